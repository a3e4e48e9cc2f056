"""A session's life: login, renewal with the master token, close, and the lookup of the session
a request's token names.

fakesnow keeps a duckdb connection per session token; this module keeps the state Snowflake has
beside it (state.SessionState: master token, role, warehouse, parameters) and the fields the
strict Rust client requires in the login and renewal answers. The designated users and missing
objects answer here with Snowflake's real errors; `--master-expire-every` expires master tokens
here. README.md, "Designated test users and role" and "Session expiry".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode

from . import parameters, user_keys
from .asgi import Receive, Scope, Send, call_inner, decode_body, read_body, send_json, session_token
from .realism import Realism
from .state import SessionState, closed_sessions, last_jwt, masters, new_session_id, query_tags, sessions
from .wire import (
    DESIGNATED_USERS,
    MASTER_VALIDITY_SECONDS,
    MISSING_DATABASE,
    MISSING_SCHEMA,
    MISSING_WAREHOUSE,
    SESSION_NOT_FOUND,
    TOKEN_MISSING,
    VALIDITY_SECONDS,
    error_body,
    expired_body,
    login_error_body,
    master_expired_body,
)

logger = logging.getLogger("snowsync.emulator")
SqlError = parameters.SqlError


class Logins:
    """Login, renewal and close requests, and the session each request's token names."""

    def __init__(self, app: Any, fakesnow_server: Any, realism: Realism):
        self.app = app
        self.fs = fakesnow_server  # the fakesnow.server module (its `sessions` dict)
        self.realism = realism

    async def login(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        try:
            body = json.loads(decode_body(scope, raw) or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        body["data"] = data
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}

        user = str(data.get("LOGIN_NAME") or "").upper()
        authenticator = str(data.get("AUTHENTICATOR") or "SNOWFLAKE").upper()
        authn_method = "KEY_PAIR" if authenticator == "SNOWFLAKE_JWT" else "PASSWORD"
        if authenticator == "SNOWFLAKE_JWT":
            # key-pair login: checked against the user's registered keys (user_keys), and recorded
            token = str(data.get("TOKEN") or "")
            last_jwt[user] = token
            why = user_keys.refused(user, token)
            if why is not None:
                logger.warning("key-pair login of %s refused: %s", user, why)
                await send_json(send, login_error_body("390144", "JWT token is invalid.", authn_method, None))
                return

        if user in DESIGNATED_USERS:
            code, message, next_action = DESIGNATED_USERS[user]
            logger.warning("login of designated user %s -> %s", user, code)
            await send_json(send, login_error_body(code, message, authn_method, next_action))
            return

        if not isinstance(data.get("SESSION_PARAMETERS"), dict):
            data["SESSION_PARAMETERS"] = {}  # fakesnow requires it
        forwarded = json.dumps(body).encode()
        # Designated missing objects: fakesnow creates the database and schema a login names,
        # so do not let it see these (real Snowflake logs in and leaves them unset).
        if (query.get("databaseName") or "").upper() == MISSING_DATABASE:
            query.pop("databaseName", None)
            query.pop("schemaName", None)
        if (query.get("schemaName") or "").upper() == MISSING_SCHEMA:
            query.pop("schemaName", None)
        scope = {**scope, "query_string": urlencode(query).encode()}
        res = await call_inner(self.app, scope, forwarded, receive)
        resp = res.json()
        if res.status != 200 or not isinstance(resp, dict) or not resp.get("success"):
            detail = "; ".join(res.errors) or res.body.decode(errors="replace")[:500]
            logger.error("fakesnow login failed (HTTP %s): %s", res.status, detail)
            await send_json(send, login_error_body("390100", f"Emulator login failed: {detail}", authn_method, None))
            return

        token = resp["data"]["token"]
        role = (query.get("roleName") or "PUBLIC").upper()
        warehouse = query.get("warehouse")
        no_warehouse = bool(warehouse and warehouse.upper() == MISSING_WAREHOUSE)
        if no_warehouse:
            warehouse = None  # a warehouse that does not exist leaves the session without one
        state = SessionState(
            token=token,
            master_token=secrets.token_urlsafe(32),
            session_id=new_session_id(),
            user=user,
            role=role,
            warehouse=warehouse and warehouse.upper(),
            no_warehouse=no_warehouse,
            client_app=str(data.get("CLIENT_APP_ID") or ""),
        )
        sessions[token] = state
        masters[state.master_token] = token
        await self.start_session(state, data["SESSION_PARAMETERS"])

        d = resp["data"]
        d["sessionId"] = state.session_id
        d["masterToken"] = state.master_token
        d["validityInSeconds"] = VALIDITY_SECONDS
        d["masterValidityInSeconds"] = MASTER_VALIDITY_SECONDS
        d.setdefault("parameters", [])
        if state.honour:
            ours = state.reported_parameters()
            names = {p["name"] for p in ours}
            d["parameters"] = [p for p in d["parameters"] if p.get("name") not in names] + ours
        d.setdefault("idToken", None)
        d.setdefault("mfaToken", None)
        info = d.setdefault("sessionInfo", {})
        info["roleName"] = role
        info["warehouseName"] = state.warehouse
        resp.setdefault("code", None)
        resp.setdefault("message", None)
        resp.setdefault("headers", None)
        await send_json(send, resp)

    async def start_session(self, state: SessionState, session_params: dict[str, Any]) -> None:
        """The parameters a new session starts with: the account's defaults, then the login's.

        SESSION_PARAMETERS of any name Snowflake knows count (python sends TIMEZONE and
        *_QUERY_RESULT_FORMAT there: connection.py); QUERY_TAG is recorded as before.
        """
        state.honour = self.realism.hostile_defaults or state.user == parameters.HOSTILE_USER
        state.defaults = dict(parameters.HOSTILE_DEFAULTS if state.honour else parameters.PLAIN_DEFAULTS)
        known = {str(k).upper(): v for k, v in session_params.items() if str(k).upper() in parameters.SESSION_PARAMETERS}
        known.pop("QUERY_TAG", None)
        state.params.update(known)
        if "QUERY_TAG" in session_params:
            self.record_params(state, {"QUERY_TAG": session_params["QUERY_TAG"]})
        if state.honour:
            with contextlib.suppress(SqlError):
                await self.apply_timezone(state, str(state.param("TIMEZONE")))

    async def apply_timezone(self, state: SessionState, zone: str) -> None:
        """Set the session's duckdb connection to TIMEZONE, so literals and CURRENT_TIMESTAMP
        are read in it (duckdb keeps TimeZone per connection; fakesnow pins the global to UTC)."""
        conn = self.fs.sessions.get(state.token)
        duck = getattr(conn, "_duck_conn", None)
        if duck is None:
            return
        try:
            await asyncio.to_thread(duck.execute, "SET TimeZone = ?", [zone])
        except Exception as e:  # noqa: BLE001 - duckdb's error for an unknown zone
            logger.warning("session %s: TIMEZONE %r refused by duckdb: %s", state.session_id, zone, e)
            raise SqlError("001008", f"SQL compilation error:\ninvalid value ['{zone}'] for parameter 'TIMEZONE'", "22023") from e

    def record_params(self, state: SessionState, items: dict[str, Any]) -> None:
        for name, value in items.items():
            if value is None:
                state.params.pop(name, None)
            else:
                state.params[name] = value
                if name == "QUERY_TAG":
                    query_tags.append(str(value))

    async def token_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        master = session_token(scope)
        old_token = masters.get(master or "")
        state = sessions.get(old_token or "")
        if state is not None and state.master_dead:
            await send_json(send, master_expired_body())
            return
        if not old_token or old_token not in self.fs.sessions or state is None:
            code, message = SESSION_NOT_FOUND
            await send_json(send, {"data": {"errorCode": code, "authnMethod": None}, "code": code, "message": message, "success": False, "headers": None})
            return
        try:
            body = json.loads(decode_body(scope, raw) or b"{}")
        except ValueError:
            body = {}
        state.renewals += 1
        every = self.realism.master_expire_every
        if every and state.renewals % every == 0:
            state.master_dead = state.expired = True
            logger.warning("session %s: master token expired (renewal %s)", state.session_id, state.renewals)
            await send_json(send, master_expired_body())
            return
        new_token = secrets.token_urlsafe(32)
        self.fs.sessions[new_token] = self.fs.sessions.pop(old_token)
        del sessions[old_token]
        state.token, state.expired = new_token, False
        sessions[new_token] = state
        masters[state.master_token] = new_token
        logger.info("renewed session %s (requestType=%s)", state.session_id, body.get("requestType") if isinstance(body, dict) else None)
        # gosnowflake restful.go renewSessionResponseMain; python network.py _renew_session
        await send_json(
            send,
            {
                "data": {
                    "sessionToken": new_token,
                    "validityInSecondsST": VALIDITY_SECONDS,
                    "masterToken": state.master_token,
                    "validityInSecondsMT": MASTER_VALIDITY_SECONDS,
                    "sessionId": state.session_id,
                },
                "code": None,
                "message": None,
                "success": True,
            },
        )

    async def close_session(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        token = session_token(scope)
        res = await call_inner(self.app, scope, decode_body(scope, raw), receive)
        resp = res.json()
        query = parse_qs(scope.get("query_string", b"").decode())
        if token and query.get("delete") and isinstance(resp, dict) and resp.get("success"):
            if state := sessions.pop(token, None):
                masters.pop(state.master_token, None)
                state.closed = True
                closed_sessions.append(state)
        if not isinstance(resp, dict):
            resp = {"data": None, "code": None, "message": None, "success": res.status == 200}
        await send_json(send, resp, status=res.status)

    def session_of(self, token: str | None) -> tuple[dict | None, SessionState | None, Any]:
        """(error body, state, fakesnow connection) for a request's session token."""
        if not token:
            return error_body(*TOKEN_MISSING, sql_state="08001"), None, None
        state = sessions.get(token)
        if state and state.expired:
            return expired_body(), None, None
        conn = self.fs.sessions.get(token)
        if conn is None:
            return error_body(*SESSION_NOT_FOUND, sql_state="08001"), None, None
        if state is None:  # a fakesnow session we did not see log in; adopt it
            state = SessionState(token, secrets.token_urlsafe(32), new_session_id(), "", "PUBLIC", None)
            sessions[token] = state
            masters[state.master_token] = token
        return None, state, conn
