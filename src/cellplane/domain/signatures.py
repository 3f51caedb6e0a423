"""Webhook signatures receivers already validate.

- `X-Twilio-Signature`: base64 HMAC-SHA1, keyed by the account's auth token, over the full URL followed
  by each POST parameter's name and value, names sorted (GET: the URL with its query, no params).
- `kore-signature`: hex SHA-256 of secret + METHOD + URL without query and fragment + raw body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def kore_signature(secret: str, method: str, url: str, body: bytes) -> str:
    parts = urlsplit(url)
    bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return hashlib.sha256(secret.encode() + method.upper().encode() + bare.encode() + body).hexdigest()
