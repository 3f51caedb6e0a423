#!/bin/sh
# Minimal reproduction, without cellplane: two strongSwan charons in two network
# namespaces, IKEv2 with a pre-shared key, ESP in user space (kernel-libipsec,
# UDP-encapsulated on port 4500), and a ping between the two protected subnets.
# Each charon gets its own strongswan.conf, VICI socket and /run (charon's pid
# file is fixed at /var/run/charon.pid, so each runs in a private mount namespace).
# Run as root: sh scripts/vpn_libipsec_repro.sh   (exit status 0 = traffic flowed)
set -eu
ID=${ID:-$$}
A=cellplane-vpnA-$ID B=cellplane-vpnB-$ID
DIR=$(mktemp -d /tmp/cellplane-vpnrepro-XXXXXX)
cleanup() {
    for ns in $A $B; do
        [ -f "$DIR/$ns/charon.pid" ] && kill "$(cat "$DIR/$ns/charon.pid")" 2>/dev/null || true
    done
    sleep 0.5
    ip netns del $A 2>/dev/null || true
    ip netns del $B 2>/dev/null || true
    [ "${KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip link add vA$ID netns $A type veth peer name vB$ID netns $B
ip -n $A addr add 192.0.2.1/24 dev vA$ID; ip -n $A link set vA$ID up; ip -n $A link set lo up
ip -n $B addr add 192.0.2.2/24 dev vB$ID; ip -n $B link set vB$ID up; ip -n $B link set lo up
# protected subnets on lo (this kernel has no dummy links)
ip -n $A addr add 10.91.1.1/24 dev lo
ip -n $B addr add 10.91.2.1/24 dev lo

conf() { # ns local remote lsub rsub
    mkdir -p "$DIR/$1/run"
    cat > "$DIR/$1/strongswan.conf" <<EOC
charon {
  load = random nonce openssl pem pkcs1 x509 pubkey revocation constraints kdf curve25519 gmp aes sha1 sha2 hmac kernel-libipsec kernel-netlink socket-default vici updown
  plugins {
    vici { socket = unix://$DIR/$1/charon.vici }
    kernel-libipsec { allow_peer_ts = no }
  }
  filelog { log { path = $DIR/$1/charon.log
      default = 1
      ike = 2
      esp = 2
      knl = 2 } }
}
EOC
    cat > "$DIR/$1/swanctl.conf" <<EOC
connections { site { version = 2
    local_addrs = $2
    remote_addrs = $3
    encap = yes
    proposals = aes256-sha256-modp2048
    local { auth = psk
      id = $2 }
    remote { auth = psk
      id = $3 }
    children { net { local_ts = $4
        remote_ts = $5
        esp_proposals = aes256gcm16
        start_action = trap } } } }
secrets { ike-1 { id-a = 192.0.2.1
    id-b = 192.0.2.2
    secret = "repro-psk-$ID" } }
EOC
    ip netns exec "$1" sh -c "mount --bind '$DIR/$1/run' /run && STRONGSWAN_CONF='$DIR/$1/strongswan.conf' exec /usr/lib/ipsec/charon" >"$DIR/$1/stdout" 2>&1 &
    for _ in $(seq 50); do [ -S "$DIR/$1/charon.vici" ] && break; sleep 0.1; done
    cp "$DIR/$1/run/charon.pid" "$DIR/$1/charon.pid"
    swanctl --load-all --file "$DIR/$1/swanctl.conf" --uri "unix://$DIR/$1/charon.vici"
}
conf $A 192.0.2.1 192.0.2.2 10.91.1.0/24 10.91.2.0/24
conf $B 192.0.2.2 192.0.2.1 10.91.2.0/24 10.91.1.0/24
ip netns exec $A tcpdump -U -ni vA$ID -w "$DIR/link.pcap" >/dev/null 2>&1 & TCPD=$!
sleep 1
swanctl --initiate --child net --uri "unix://$DIR/$A/charon.vici" || true
echo "--- ping 10.91.1.1 -> 10.91.2.1 through the tunnel"
rc=0
ip netns exec $A ping -c 3 -W 2 -I 10.91.1.1 10.91.2.1 || rc=$?
echo "--- SAs on A"
swanctl --list-sas --uri "unix://$DIR/$A/charon.vici"
kill $TCPD; sleep 0.5
echo "--- what crossed the link (expect only UDP 500/4500)"
tcpdump -nr "$DIR/link.pcap" 2>/dev/null | head -20
echo "--- versions"; /usr/lib/ipsec/charon --version 2>/dev/null || true; dpkg-query -W strongswan-charon libcharon-extra-plugins 2>/dev/null; uname -r
exit $rc
