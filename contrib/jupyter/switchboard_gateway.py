# SPDX-License-Identifier: MIT OR Apache-2.0
"""A Jupyter Server token renewer for Switchboard as its kernel gateway.

Switchboard's sign-in tokens last `token_ttl` (12 h by default); a Jupyter Server that runs
longer signs in again with this class:

    PYTHONPATH=contrib/jupyter SWITCHBOARD_USERNAME=ana SWITCHBOARD_PASSWORD=... \\
    jupyter lab --GatewayClient.url=https://sb.example \\
        --GatewayClient.gateway_token_renewer_class=switchboard_gateway.SwitchboardTokenRenewer

`SWITCHBOARD_PASSWORD_FILE` may name a file holding the password instead. Jupyter Server asks
for the token before every request to the gateway; this answers the one it holds until it is
`SWITCHBOARD_RENEW_BEFORE` seconds (300) from expiring, then signs in again. A failed sign-in
is logged and the old token kept, so the gateway's 401 says what is wrong. Accounts with a
second factor cannot sign in without a person and cannot use it.
"""

import base64
import json
import os
import time
import urllib.request

from jupyter_server.gateway.gateway_client import GatewayClient, GatewayTokenRenewerBase


def _expires_at(token):
    """The `exp` claim of a JWT, or 0 when it cannot be read."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return float(json.loads(base64.urlsafe_b64decode(payload))["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return 0.0


class SwitchboardTokenRenewer(GatewayTokenRenewerBase):
    """Signs in to Switchboard with a username and password whenever the token runs out."""

    def get_token(self, auth_header_key, auth_scheme, auth_token, **kwargs):
        renew_before = float(os.environ.get("SWITCHBOARD_RENEW_BEFORE", "300"))
        if auth_token and _expires_at(auth_token) - time.time() > renew_before:
            return auth_token
        try:
            return self._sign_in()
        except Exception as e:  # noqa: BLE001 - any failure keeps the old token
            self.log.error("Switchboard sign-in for the gateway failed: %s", e)
            return auth_token

    def _sign_in(self):
        username = os.environ["SWITCHBOARD_USERNAME"]
        password = os.environ.get("SWITCHBOARD_PASSWORD")
        if password is None:
            with open(os.environ["SWITCHBOARD_PASSWORD_FILE"], encoding="utf-8") as f:
                password = f.read().strip()
        url = GatewayClient.instance().url.rstrip("/") + "/api/v1/auth/login"
        body = json.dumps({"username": username, "password": password}).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer = json.load(response)
        if "token" not in answer:
            raise RuntimeError("the account asks for a second factor; use a token instead")
        self.log.info("signed in to Switchboard as %s for the gateway", username)
        return answer["token"]
