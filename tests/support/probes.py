"""Small programs a device shell runs (`python -c`): probes whose output the data plane tests read line by line."""

from __future__ import annotations

# argv: peer address, UDP port. Prints "udp=ok|no icmp=ok|no": a UDP echo answered, an ICMP echo answered.
REACH = r"""
import os, socket, struct, sys, time
peer, port = sys.argv[1], int(sys.argv[2])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1.5)
try:
    u.sendto(b"hello", (peer, port)); data, _ = u.recvfrom(100); udp = "ok" if data == b"olleh" else "no"
except OSError:
    udp = "no"
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); r.settimeout(1.5)
def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return ~s & 0xFFFF
ident = os.getpid() & 0xFFFF
head = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"cellplane"
packet = head[:2] + struct.pack("!H", checksum(head + b"\0")) + head[4:]
icmp = "no"
try:
    r.sendto(packet, (peer, 0)); end = time.time() + 1.5
    while time.time() < end:
        data, src = r.recvfrom(200)
        if src[0] == peer and data[20] == 0 and struct.unpack("!H", data[24:26])[0] == ident:
            icmp = "ok"; break
except OSError:
    pass
print(f"udp={udp} icmp={icmp}", flush=True)
"""

# argv: UDP port. Echoes every datagram reversed; prints "ready" once bound.
UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(100); s.sendto(bytes(reversed(data)), peer)
"""

# sh -c TWO_PORTS sh URL_A URL_B SECONDS: curl both every 50 ms, "<unix time> <status of a> <status of b>" (000: none).
TWO_PORTS = r"""
end=$(( $(date +%s) + $3 ))
while [ "$(date +%s)" -lt "$end" ]; do
  t=$(date +%s.%N)
  a=$(curl -s -o /dev/null --max-time 0.5 -w '%{http_code}' "$1")
  b=$(curl -s -o /dev/null --max-time 0.5 -w '%{http_code}' "$2")
  echo "$t $a $b"
  sleep 0.05
done
"""
