"""A local fake of Discord for end-to-end tests of the Discord adapter, on aiohttp, bound to 127.0.0.1.

It plays both parts of Discord the real ``discord.py`` client talks to:

- the REST API under ``/api/v10`` (``discord.http.Route.BASE``): login (``GET /users/@me``), application info,
  command sync, messages, channels, interaction callbacks and webhook follow-ups, guild scheduled events
  (created, read, edited and deleted: :attr:`FakeDiscord.scheduled_events` holds them as they are now). A
  component interaction answered with UPDATE_MESSAGE (or a deferred update, then an edit of ``@original``) changes
  the clicked message in place, as Discord does; :meth:`FakeDiscord.refuse` makes a route answer an error. Every
  request is recorded
  (method, path, route name, query, JSON body, headers); a route the fake does not know is answered 404, logged
  loudly and kept in :attr:`FakeDiscord.unknown` so a test can fail on it. A message sent with files comes as
  ``multipart/form-data`` (``payload_json`` plus ``files[N]`` parts, as discord.py sends them): its JSON is the
  recorded body and its files are kept in :attr:`Request.files` (:class:`Attachment`: filename, bytes, size,
  description); the message Discord returns lists them as attachments. More than 10 files, or a file over
  :data:`MAX_FILE_BYTES`, is refused as Discord refuses it;
- the gateway websocket (``DiscordWebSocket.DEFAULT_GATEWAY``): HELLO -> IDENTIFY -> READY -> GUILD_CREATE, then
  whatever dispatch events a test pushes (``MESSAGE_CREATE``, ``INTERACTION_CREATE``) with increasing sequence
  numbers. Heartbeats (op 1) are answered with op 11 and counted.

Two Discord details the fake must get exactly right, or discord.py silently misreads it:

- REST answers carry ``Content-Type: application/json`` *exactly*: discord.py's ``json_or_text`` compares the
  header with ``==``, so aiohttp's usual ``application/json; charset=utf-8`` makes every answer a plain string;
- discord.py asks for ``compress=zlib-stream`` (or ``zstd-stream``) in the gateway URL, but only decompresses
  BINARY frames: TEXT frames are read as plain JSON, so the fake sends uncompressed text frames.

The server runs on its own event loop in a background thread (:class:`LoopThread`), so tests stay synchronous and
the client under test (on another loop thread) can never block the fake. Every wait is a polling loop with a
deadline (:func:`wait_until`).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from fake_support import DEFAULT_TIMEOUT, POLL, LoopThread, wait_until  # noqa: F401 - re-exported to tests

T = TypeVar("T")
log = logging.getLogger("discord_fake")

TOKEN = "test-token"
API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000

# Snowflakes of the fake world. The application id is the bot user's id, as Discord makes them.
APP_ID = BOT_ID = 1100000000000000001
GUILD_ID = 1200000000000000001
GENERAL_CHANNEL_ID = 1200000000000000002
NETWORK_CHANNEL_ID = 1200000000000000003
COORDINATOR_ROLE_ID = 1200000000000000004
READONLY_CHANNEL_ID = 1200000000000000005  # #announcements: @everyone (so the bot) may read, not send
DM_CHANNEL_ID = 1200000000000000009
MEMBER_ID = 1300000000000000001
COORDINATOR_ID = 1300000000000000002
PEER_ID = 1300000000000000003
OTHER_BOT_ID = 1300000000000000009

# Interaction and callback types (Discord's numbers).
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9
EPHEMERAL = 64
#: Discord's limits for attachments: files per message, and bytes per file (no boosts).
MAX_FILES = 10
MAX_FILE_BYTES = 10 * 1024 * 1024
#: Permission bits (Discord's numbers).
MANAGE_EVENTS = 1 << 33
CREATE_EVENTS = 1 << 44
BASE_PERMISSIONS = 0x4000 | 0x800 | 0x400 | 0x80000000


# -- payloads shaped like Discord's ----------------------------------------------------------------------------------

_counter = itertools.count(1)


def snowflake() -> int:
    """A fresh, time-ordered snowflake."""
    return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_counter) & 0x3FFFFF)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "global_name": name.title(), "discriminator": "0",
            "avatar": None, "bot": bot, "public_flags": 0, "flags": 0}


def member(user_id: int, name: str, *, roles: Iterable[int] = (), bot: bool = False,
           with_user: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {"roles": [str(r) for r in roles], "nick": None, "avatar": None, "joined_at": now_iso(),
                            "premium_since": None, "deaf": False, "mute": False, "pending": False, "flags": 0,
                            "communication_disabled_until": None}
    if with_user:
        data["user"] = user(user_id, name, bot=bot)
    return data


BOT_USER = user(BOT_ID, "rrr-bot", bot=True)
#: The people of the fake guild: (id, name, roles).
PEOPLE = {MEMBER_ID: ("member", ()), COORDINATOR_ID: ("coordinator", (COORDINATOR_ROLE_ID,)),
          PEER_ID: ("peer", ()), OTHER_BOT_ID: ("otherbot", ())}


def text_channel(channel_id: int, name: str, position: int = 0,
                 overwrites: Iterable[Mapping[str, Any]] = (), *, guild_id: int = GUILD_ID) -> dict[str, Any]:
    return {"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": name, "position": position,
            "permission_overwrites": [dict(o) for o in overwrites], "nsfw": False, "parent_id": None, "topic": None,
            "last_message_id": None, "rate_limit_per_user": 0, "flags": 0}


def role(role_id: int, name: str, position: int, permissions: int) -> dict[str, Any]:
    return {"id": str(role_id), "name": name, "color": 0, "colors": {"primary_color": 0}, "hoist": False,
            "icon": None, "unicode_emoji": None, "position": position, "permissions": str(permissions),
            "managed": False, "mentionable": False, "flags": 0}


def guild_create() -> dict[str, Any]:
    """The guild: #general and #peer-network, @everyone and the coordinator role, the bot and the people."""
    members = [member(BOT_ID, "rrr-bot", bot=True)] + [
        member(uid, name, roles=roles, bot=uid == OTHER_BOT_ID) for uid, (name, roles) in PEOPLE.items()]
    return {
        "id": str(GUILD_ID), "name": "RRR network", "icon": None, "splash": None, "discovery_splash": None,
        "owner_id": str(COORDINATOR_ID), "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
        "default_message_notifications": 1, "explicit_content_filter": 0, "features": [], "mfa_level": 0,
        "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None, "vanity_url_code": None,
        "description": None, "banner": None, "premium_tier": 0, "premium_subscription_count": 0,
        "preferred_locale": "en-US", "public_updates_channel_id": None, "nsfw_level": 0,
        "premium_progress_bar_enabled": False, "safety_alerts_channel_id": None, "application_id": None,
        "max_members": 500000, "max_video_channel_users": 25,
        "roles": [role(GUILD_ID, "@everyone", 0, 0x4000 | 0x800 | 0x400 | 0x80000000),
                  role(COORDINATOR_ROLE_ID, "coordinator", 1, 0x4000 | 0x800 | 0x400)],
        "emojis": [], "stickers": [], "soundboard_sounds": [], "stage_instances": [], "guild_scheduled_events": [],
        "threads": [], "voice_states": [], "presences": [],
        "channels": [text_channel(GENERAL_CHANNEL_ID, "general", 0),
                     text_channel(NETWORK_CHANNEL_ID, "peer-network", 1),
                     text_channel(READONLY_CHANNEL_ID, "announcements", 2,
                                  [{"id": str(GUILD_ID), "type": 0, "allow": "0", "deny": str(0x800)}])],
        "members": members, "member_count": len(members), "large": False, "unavailable": False,
        "joined_at": now_iso(), "lazy": True,
    }


def other_guild_create(guild_id: int, name: str, channel_id: int, roles: Iterable[Mapping[str, Any]],
                       people: Mapping[int, tuple[str, Iterable[int]]]) -> dict[str, Any]:
    """Another server the bot was added to, as its GUILD_CREATE: one channel, @everyone and ``roles``, the bot and
    ``people`` (id: (name, role ids))."""
    data = guild_create()
    members = [member(BOT_ID, "rrr-bot", bot=True)] + [member(uid, n, roles=r) for uid, (n, r) in people.items()]
    data.update(id=str(guild_id), name=name, owner_id=str(next(iter(people), BOT_ID)),
                roles=[role(guild_id, "@everyone", 0, BASE_PERMISSIONS), *(dict(r) for r in roles)],
                channels=[text_channel(channel_id, "general", 0, guild_id=guild_id)], members=members,
                member_count=len(members))
    return data


def message_create(content: str, *, author_id: int = MEMBER_ID, channel_id: int = GENERAL_CHANNEL_ID,
                   guild: bool = True, mentions: Iterable[int] = (), bot: bool | None = None,
                   mention_everyone: bool = False, message_id: int | None = None, guild_id: int = GUILD_ID,
                   roles: Iterable[int] | None = None) -> dict[str, Any]:
    """A MESSAGE_CREATE payload. ``mentions`` lists the user ids the message mentions (as Discord resolves
    ``<@id>``); a guild message (of ``guild_id``) carries the author's partial member with their ``roles`` (by
    default those of :data:`PEOPLE`), as the gateway sends it."""
    name, default_roles = PEOPLE.get(author_id, ("rrr-bot" if author_id == BOT_ID else f"user{author_id}", ()))
    roles = default_roles if roles is None else roles
    is_bot = bot if bot is not None else author_id in (BOT_ID, OTHER_BOT_ID)
    data: dict[str, Any] = {
        "id": str(message_id or snowflake()), "channel_id": str(channel_id),
        "author": user(author_id, name, bot=is_bot),
        "content": content, "timestamp": now_iso(), "edited_timestamp": None, "tts": False,
        "mention_everyone": mention_everyone, "mention_roles": [], "attachments": [], "embeds": [],
        "components": [], "pinned": False, "type": 0, "flags": 0, "nonce": str(next(_counter)),
        "mentions": [dict(user(uid, PEOPLE.get(uid, ("rrr-bot" if uid == BOT_ID else "x", ()))[0],
                               bot=uid in (BOT_ID, OTHER_BOT_ID)),
                          **({"member": member(uid, "x", with_user=False)} if guild else {}))
                     for uid in mentions],
    }
    if guild:
        data["guild_id"] = str(guild_id)
        data["member"] = member(author_id, name, roles=roles, bot=is_bot, with_user=False)
    return data


def interaction(kind: int, data: Mapping[str, Any], *, user_id: int = MEMBER_ID, channel_id: int = GENERAL_CHANNEL_ID,
                message: Mapping[str, Any] | None = None, roles: Iterable[int] | None = None,
                app_permissions: int = BASE_PERMISSIONS, guild_id: int = GUILD_ID) -> dict[str, Any]:
    """An INTERACTION_CREATE payload of type ``kind`` from ``user_id`` in the channel ``channel_id`` of the guild
    ``guild_id``; ``app_permissions`` are the bot's permissions there (add :data:`MANAGE_EVENTS` to let it create
    events)."""
    name, default_roles = PEOPLE.get(user_id, (f"user{user_id}", ()))
    payload: dict[str, Any] = {
        "id": str(snowflake()), "application_id": str(APP_ID), "type": kind, "token": f"itoken-{next(_counter)}",
        "version": 1, "guild_id": str(guild_id), "channel_id": str(channel_id),
        "channel": text_channel(channel_id, "general" if channel_id == GENERAL_CHANNEL_ID else "peer-network",
                                guild_id=guild_id),
        "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
        "member": dict(member(user_id, name, roles=default_roles if roles is None else roles),
                       permissions=str(0x4000 | 0x800 | 0x400 | 0x80000000)),
        "data": dict(data), "app_permissions": str(app_permissions), "locale": "en-US",
        "guild_locale": "en-US", "entitlements": [], "authorizing_integration_owners": {"0": str(guild_id)},
        "context": 0, "attachment_size_limit": 10 * 1024 * 1024,
    }
    if message is not None:
        payload["message"] = dict(message)
    return payload


def walk_components(components: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    """Every component, nested ones included (action rows, labels)."""
    for component in components or ():
        yield component
        yield from walk_components(component.get("components") or ())
        if isinstance(component.get("component"), Mapping):
            yield from walk_components([component["component"]])


def custom_ids(components: Iterable[Mapping[str, Any]]) -> list[str]:
    """The custom ids of the buttons in ``components``."""
    return [c["custom_id"] for c in walk_components(components) if c.get("type") == 2 and "custom_id" in c]


def modal_inputs(modal: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The text inputs of a modal payload, each with its ``label`` (from itself or its Label component)."""
    out: list[dict[str, Any]] = []

    def visit(components: Iterable[Mapping[str, Any]], label: str | None) -> None:
        for component in components or ():
            if component.get("type") == 4:
                out.append(dict(component, label=component.get("label") or label or ""))
            if component.get("type") == 18 and isinstance(component.get("component"), Mapping):
                visit([component["component"]], component.get("label"))
            visit(component.get("components") or (), label)

    visit(modal.get("components") or (), None)
    return out


def modal_submit_data(modal: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """The ``data`` of a MODAL_SUBMIT for ``modal`` (as the bot sent it), with ``values`` by input label; other
    inputs keep their prefilled value. Components come back shaped as the modal sent them (rows or labels)."""
    wanted = dict(values)

    def value_of(text_input: Mapping[str, Any], label: str) -> str:
        return wanted.pop(label) if label in wanted else (text_input.get("value") or "")

    components: list[dict[str, Any]] = []
    for component in modal.get("components") or ():
        if component.get("type") == 18:
            inner = component["component"]
            components.append({"type": 18, "id": component.get("id", 0), "component": {
                "type": 4, "id": inner.get("id", 0), "custom_id": inner["custom_id"],
                "value": value_of(inner, component.get("label", ""))}})
        else:
            row = [{"type": 4, "id": c.get("id", 0), "custom_id": c["custom_id"],
                    "value": value_of(c, c.get("label", ""))} for c in component.get("components") or ()
                   if c.get("type") == 4]
            components.append({"type": 1, "id": component.get("id", 0), "components": row})
    if wanted:
        raise KeyError(f"the modal has no inputs labelled {sorted(wanted)}; it has "
                       f"{[i['label'] for i in modal_inputs(modal)]}")
    return {"custom_id": modal["custom_id"], "components": components}


# -- the recorded traffic --------------------------------------------------------------------------------------------

@dataclass
class Attachment:
    """A file part of a multipart request: its form field (``files[N]``), file name, bytes and the description
    (alt text) the JSON part gives it."""

    field: str
    filename: str
    data: bytes
    content_type: str = ""
    description: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<attachment {self.filename!r} {self.size} bytes>"


@dataclass
class Request:
    """One REST request the fake received."""

    method: str
    path: str
    route: str
    params: dict[str, str]
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int = 200
    response: Any = None
    at: float = field(default_factory=time.monotonic)
    files: list[Attachment] = field(default_factory=list)

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body as a dict ({} when there is none)."""
        return self.json if isinstance(self.json, dict) else {}

    @property
    def data(self) -> dict[str, Any]:
        """An interaction callback's ``data`` (the modal, the autocomplete choices ...)."""
        return self.body.get("data") or {}

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.body.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.body.get("components") or []

    @property
    def text(self) -> str:
        """Content plus every embed's title, description and fields."""
        parts = [self.body.get("content") or ""]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts += [f"{f.get('name')}: {f.get('value')}" for f in embed.get("fields") or ()]
        return "\n".join(p for p in parts if p)

    @property
    def filenames(self) -> list[str]:
        return [f.filename for f in self.files]

    def __repr__(self) -> str:
        text = json.dumps(self.json, ensure_ascii=False, default=str) if self.json is not None else ""
        files = f" files={self.files}" if self.files else ""
        return f"<{self.method} {self.path} -> {self.status} {text[:500]}{'...' if len(text) > 500 else ''}{files}>"


#: (method, pattern, route name). Patterns are matched against the path after ``/api/v10``.
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), name) for m, p, name in [
        ("GET", r"^/users/@me$", "me"),
        ("GET", r"^/oauth2/applications/@me$", "application"),
        ("GET", r"^/applications/@me$", "application"),
        ("GET", r"^/gateway$", "gateway"),
        ("GET", r"^/gateway/bot$", "gateway_bot"),
        ("PUT", r"^/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands$", "sync_guild_commands"),
        ("PUT", r"^/applications/(?P<app>\d+)/commands$", "sync_global_commands"),
        ("GET", r"^/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands$", "guild_commands"),
        ("GET", r"^/applications/(?P<app>\d+)/commands$", "global_commands"),
        ("POST", r"^/channels/(?P<channel>\d+)/messages$", "create_message"),
        ("PATCH", r"^/channels/(?P<channel>\d+)/messages/(?P<message>\d+)$", "edit_message"),
        ("DELETE", r"^/channels/(?P<channel>\d+)/messages/(?P<message>\d+)$", "delete_message"),
        ("GET", r"^/channels/(?P<channel>\d+)$", "channel"),
        ("POST", r"^/users/@me/channels$", "create_dm"),
        ("GET", r"^/users/(?P<user>\d+)$", "get_user"),
        ("POST", r"^/interactions/(?P<interaction>\d+)/(?P<token>[^/]+)/callback$", "callback"),
        ("POST", r"^/webhooks/(?P<app>\d+)/(?P<token>[^/]+)$", "followup"),
        ("PATCH", r"^/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<message>@original|\d+)$", "edit_followup"),
        ("GET", r"^/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<message>@original|\d+)$", "get_followup"),
        ("DELETE", r"^/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<message>@original|\d+)$",
         "delete_followup"),
        ("POST", r"^/guilds/(?P<guild>\d+)/scheduled-events$", "create_scheduled_event"),
        ("GET", r"^/guilds/(?P<guild>\d+)/scheduled-events/(?P<event>\d+)$", "get_scheduled_event"),
        ("PATCH", r"^/guilds/(?P<guild>\d+)/scheduled-events/(?P<event>\d+)$", "edit_scheduled_event"),
        ("DELETE", r"^/guilds/(?P<guild>\d+)/scheduled-events/(?P<event>\d+)$", "delete_scheduled_event"),
    ]
]


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer with ``Content-Type: application/json`` exactly (no charset), as discord.py requires."""
    return web.Response(body=json.dumps(data).encode("utf-8"), status=status,
                        headers={"Content-Type": "application/json"})


class FakeDiscord:
    """The fake Discord. ``start()`` binds 127.0.0.1 on a free port; ``stop()`` frees everything."""

    def __init__(self, *, heartbeat_interval_ms: int = 500, token: str = TOKEN) -> None:
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.token = token
        self.requests: list[Request] = []
        self.unknown: list[Request] = []
        self.identifies: list[dict[str, Any]] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.received: list[dict[str, Any]] = []  # every gateway frame from the client
        self.heartbeats = 0
        self.heartbeat_acks = 0
        self.heartbeat_times: list[float] = []
        self.sessions_ready = 0  # connections that got READY and GUILD_CREATE
        self.resumes: list[dict[str, Any]] = []  # RESUME payloads the client sent
        self.resumed = 0  # resumes answered with RESUMED
        self.replayed: list[tuple[int, str]] = []  # (seq, event) sent again by a resume
        self._session_id = ""
        self._events: list[tuple[int, str, Any]] = []  # (seq, event, data) of the current session, for RESUME
        self._replay_from: int | None = None
        self.messages: dict[int, dict[str, Any]] = {}  # every message the bot created, by id (as edited since)
        self.interactions: dict[str, dict[str, Any]] = {}  # every interaction pushed, by id and by token
        self._answered: dict[str, int] = {}  # interaction token -> type of its callback
        self.scheduled_events: list[dict[str, Any]] = []  # events the bot created
        self._refusals: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.commands: dict[str, dict[str, Any]] = {}  # synced commands, by name
        self._lock = threading.Lock()
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = 0
        self._thread: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def start(self) -> FakeDiscord:
        self._thread = LoopThread("fake-discord")
        self.port = self._thread.run(self._start())
        return self

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        app.router.add_route("*", "/{tail:.*}", self._stray)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._thread is None:
            return

        async def shutdown() -> None:
            for ws in list(self._sockets):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        try:
            self._thread.run(shutdown())
        finally:
            self._thread.close()
            self._thread = None

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the gateway -------------------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        self.gateway_queries.append(dict(request.query))
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                                      "s": None, "t": None}))
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    log.error("fake discord: unexpected gateway frame %s", msg.type)
                    continue
                frame = json.loads(msg.data)
                with self._lock:
                    self.received.append(frame)
                op = frame.get("op")
                if op == 1:
                    with self._lock:
                        self.heartbeats += 1
                        self.heartbeat_times.append(time.monotonic())
                    await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
                    with self._lock:
                        self.heartbeat_acks += 1
                elif op == 2:
                    if (frame.get("d") or {}).get("token") != self.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    self.identifies.append(frame["d"])
                    await self._ready(ws)
                elif op == 6:
                    await self._resume(ws, frame.get("d") or {})
                else:
                    log.warning("fake discord: gateway op %s ignored: %s", op, frame)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    async def _ready(self, ws: web.WebSocketResponse) -> None:
        self._seq = 0
        self._events = []
        self._session_id = f"session-{next(_counter)}"
        await self._send_dispatch(ws, "READY", {
            "v": 10, "user": BOT_USER, "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
            "session_id": self._session_id, "resume_gateway_url": self.gateway_url,
            "shard": [0, 1], "application": {"id": str(APP_ID), "flags": 0}, "private_channels": [],
            "relationships": [], "user_settings": {}, "presences": [], "geo_ordered_rtc_regions": [],
        })
        await self._send_dispatch(ws, "GUILD_CREATE", guild_create())
        with self._lock:
            self.sessions_ready += 1

    async def _resume(self, ws: web.WebSocketResponse, data: Mapping[str, Any]) -> None:
        """RESUME: replay the events the client missed (after its ``seq``, or after ``replay_from`` when a test
        asks for duplicates, as Discord may send after a reconnect), then RESUMED; an unknown session is invalid."""
        self.resumes.append(dict(data))
        if data.get("token") != self.token or data.get("session_id") != self._session_id:
            await ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            return
        after = self._replay_from if self._replay_from is not None else int(data.get("seq") or 0)
        self._replay_from = None
        for seq, event, payload in list(self._events):
            if seq > after:
                await ws.send_str(json.dumps({"op": 0, "t": event, "s": seq, "d": payload}))
                self.replayed.append((seq, event))
        await self._send_dispatch(ws, "RESUMED", {})
        self.resumed += 1

    async def _send_dispatch(self, ws: web.WebSocketResponse, event: str, data: Mapping[str, Any]) -> int:
        self._seq += 1
        seq = self._seq
        self._events.append((seq, event, data))
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": seq, "d": data}))
        return seq

    def reconnect(self, *, replay_from: int | None = None) -> None:
        """Send op 7 RECONNECT: the client drops the connection and RESUMEs on a new one. ``replay_from`` makes the
        resume replay every event after that sequence number, including ones the client already handled."""
        async def send() -> None:
            self._replay_from = replay_from
            await self._sockets[-1].send_str(json.dumps({"op": 7, "d": None, "s": None, "t": None}))

        assert self._thread is not None and self._sockets, "no client is connected to the fake gateway"
        self._thread.run(send())

    @property
    def seq(self) -> int:
        """The sequence number of the last event sent."""
        return self._seq

    def dispatch(self, event: str, data: Mapping[str, Any]) -> int:
        """Push a dispatch event to the connected client; returns its sequence number."""
        async def send() -> int:
            if not self._sockets:
                raise AssertionError("no client is connected to the fake gateway")
            return await self._send_dispatch(self._sockets[-1], event, data)

        assert self._thread is not None, "the fake is not started"
        return self._thread.run(send())

    def send_message(self, content: str, **kw: Any) -> dict[str, Any]:
        """Dispatch a MESSAGE_CREATE (see :func:`message_create`); returns the message payload."""
        data = message_create(content, **kw)
        self.dispatch("MESSAGE_CREATE", data)
        return data

    def send_interaction(self, kind: int, data: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        """Dispatch an INTERACTION_CREATE (see :func:`interaction`); returns the interaction payload."""
        payload = interaction(kind, data, **kw)
        with self._lock:
            self.interactions[payload["id"]] = self.interactions[payload["token"]] = payload
        self.dispatch("INTERACTION_CREATE", payload)
        return payload

    def slash(self, name: str, options: Mapping[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Invoke the slash command ``name`` with ``options`` (strings; ints and bools are sent with their types)."""
        command = self.commands.get(name, {})
        data = {"id": command.get("id", str(snowflake())), "name": name, "type": 1, "guild_id": str(GUILD_ID),
                "options": [{"name": k, "type": _option_type(v), "value": v} for k, v in (options or {}).items()]}
        return self.send_interaction(APPLICATION_COMMAND, data, **kw)

    def autocomplete(self, name: str, focused: str, value: str, others: Mapping[str, str] | None = None,
                     **kw: Any) -> dict[str, Any]:
        """Type ``value`` into the option ``focused`` of the slash command ``name``."""
        command = self.commands.get(name, {})
        options = [{"name": k, "type": 3, "value": v} for k, v in (others or {}).items()]
        options.append({"name": focused, "type": 3, "value": value, "focused": True})
        data = {"id": command.get("id", str(snowflake())), "name": name, "type": 1, "guild_id": str(GUILD_ID),
                "options": options}
        return self.send_interaction(AUTOCOMPLETE, data, **kw)

    def context_menu(self, name: str, target: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        """Use the message context-menu command ``name`` on ``target`` (a MESSAGE_CREATE payload)."""
        command = self.commands.get(name, {})
        resolved = {k: v for k, v in target.items() if k != "member"}
        data = {"id": command.get("id", str(snowflake())), "name": name, "type": 3, "guild_id": str(GUILD_ID),
                "target_id": target["id"], "resolved": {"messages": {target["id"]: resolved}}}
        kw.setdefault("channel_id", int(target["channel_id"]))
        return self.send_interaction(APPLICATION_COMMAND, data, **kw)

    def click(self, message: Mapping[str, Any], custom_id: str, **kw: Any) -> dict[str, Any]:
        """Click the button ``custom_id`` of ``message`` (a message object the bot created)."""
        assert custom_id in custom_ids(message.get("components") or ()), \
            f"{custom_id!r} is not a button of the message: {custom_ids(message.get('components') or ())}"
        kw.setdefault("channel_id", int(message["channel_id"]))
        return self.send_interaction(MESSAGE_COMPONENT, {"custom_id": custom_id, "component_type": 2},
                                     message=message, **kw)

    def submit(self, modal: Mapping[str, Any], values: Mapping[str, str], **kw: Any) -> dict[str, Any]:
        """Submit ``modal`` (the ``data`` of a type-9 callback) with ``values`` by input label."""
        return self.send_interaction(MODAL_SUBMIT, modal_submit_data(modal, values), **kw)

    # -- REST --------------------------------------------------------------------------------------------------------

    async def _stray(self, request: web.Request) -> web.Response:
        record = Request(request.method, request.path, "?", {}, dict(request.query), None, dict(request.headers),
                         status=404)
        self._unknown(record)
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    def _unknown(self, record: Request) -> None:
        log.error("FAKE DISCORD: UNKNOWN ROUTE %s %s (query %s, body %r)", record.method, record.path, record.query,
                  record.json)
        print(f"FAKE DISCORD: UNKNOWN ROUTE {record.method} {record.path}")
        with self._lock:
            self.unknown.append(record)
            self.requests.append(record)

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body: Any = None
        files: list[Attachment] = []
        raw = await request.read()
        if raw:
            ctype = request.headers.get("Content-Type", "")
            if ctype.startswith("multipart/"):
                body, files = _multipart(ctype, raw)
            else:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
        for method, pattern, name in ROUTES:
            match = pattern.match(path)
            if match and method == request.method:
                record = Request(request.method, path, name, match.groupdict(), dict(request.query), body,
                                 dict(request.headers), files=files)
                break
        else:
            record = Request(request.method, path, "?", {}, dict(request.query), body, dict(request.headers),
                             status=404)
            self._unknown(record)
            return json_response({"message": "404: Not Found", "code": 0}, 404)
        with self._lock:
            refusals = self._refusals.get(name)
            refusal = refusals.pop(0) if refusals else None
        if name not in ("callback", "followup", "edit_followup", "get_followup", "delete_followup") and \
                request.headers.get("Authorization") != f"Bot {self.token}":
            record.status = 401
            record.response = {"message": "401: Unauthorized", "code": 0}
        elif refusal is not None:
            record.status, record.response = refusal
        elif len(files) > MAX_FILES:
            record.status, record.response = 400, {"message": "Invalid Form Body", "code": 50035, "errors": {
                "files": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 10 or fewer in length."}]}}}
        elif any(f.size > MAX_FILE_BYTES for f in files):
            record.status, record.response = 413, {"message": "Request entity too large", "code": 40005}
        else:
            record.status, record.response = getattr(self, f"_r_{name}")(record)
        with self._lock:
            self.requests.append(record)
        if record.status == 204:
            return web.Response(status=204)
        return json_response(record.response, record.status)

    def _r_me(self, r: Request) -> tuple[int, Any]:
        return 200, dict(BOT_USER, verified=True, mfa_enabled=False, locale="en-US", email=None)

    def _r_application(self, r: Request) -> tuple[int, Any]:
        return 200, {"id": str(APP_ID), "name": "rrr-bot", "icon": None, "description": "RRR peer network bot",
                     "rpc_origins": [], "bot_public": False, "bot_require_code_grant": False,
                     "owner": user(COORDINATOR_ID, "coordinator"), "summary": "", "verify_key": "0" * 64,
                     "team": None, "flags": 0, "tags": [], "bot": BOT_USER, "interactions_endpoint_url": None,
                     "approximate_guild_count": 1, "redirect_uris": [], "integration_types_config": {}}

    def _r_gateway(self, r: Request) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    def _r_gateway_bot(self, r: Request) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url, "shards": 1,
                     "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                             "max_concurrency": 1}}

    def _sync(self, r: Request, guild_id: str | None) -> tuple[int, Any]:
        out = []
        for command in r.json or []:
            known = self.commands.get(command["name"])
            # Discord echoes every command with its id, version and the defaults it filled in.
            echoed = {"description": "", "options": [], "nsfw": False, "dm_permission": True, **command,
                      "id": known["id"] if known else str(snowflake()), "application_id": str(APP_ID),
                      "version": str(snowflake()), "type": command.get("type", 1),
                      "default_member_permissions": command.get("default_member_permissions")}
            if guild_id:
                echoed["guild_id"] = guild_id
            out.append(echoed)
        with self._lock:
            self.commands.update({c["name"]: c for c in out})
        return 200, out

    def _r_sync_guild_commands(self, r: Request) -> tuple[int, Any]:
        return self._sync(r, r.params["guild"])

    def _r_sync_global_commands(self, r: Request) -> tuple[int, Any]:
        return self._sync(r, None)

    def _r_guild_commands(self, r: Request) -> tuple[int, Any]:
        return 200, [c for c in self.commands.values() if c.get("guild_id") == r.params["guild"]]

    def _r_global_commands(self, r: Request) -> tuple[int, Any]:
        return 200, [c for c in self.commands.values() if not c.get("guild_id")]

    def _message(self, channel_id: int | str, body: Mapping[str, Any], files: Iterable[Attachment] = (),
                 **extra: Any) -> dict[str, Any]:
        """The message object Discord returns for ``body`` with ``files`` (and remembers, so a test can click its
        buttons)."""
        reference = body.get("message_reference")
        attachments = []
        for f in files:
            attachment_id = snowflake()
            url = f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment_id}/{f.filename}"
            attachments.append({"id": str(attachment_id), "filename": f.filename, "size": f.size, "url": url,
                                "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
                                "content_type": "image/png" if f.filename.endswith(".png") else f.content_type,
                                "description": f.description})
        message = {
            "id": str(snowflake()), "channel_id": str(channel_id), "author": BOT_USER,
            "content": body.get("content") or "", "timestamp": now_iso(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": attachments,
            "embeds": body.get("embeds") or [], "components": body.get("components") or [], "pinned": False,
            "type": 19 if reference else 0, "flags": int(body.get("flags") or 0),
        }
        if int(channel_id) != DM_CHANNEL_ID:
            message["guild_id"] = str(GUILD_ID)
        if reference:
            message["message_reference"] = reference
        message.update(extra)
        with self._lock:
            self.messages[int(message["id"])] = message
        return message

    def _r_create_message(self, r: Request) -> tuple[int, Any]:
        return 200, self._message(r.params["channel"], r.body, r.files)

    def _r_edit_message(self, r: Request) -> tuple[int, Any]:
        """Like Discord: the bot edits only its own messages, in place (same id); others are Unknown Message."""
        with self._lock:
            known = self.messages.get(int(r.params["message"]))
        if known is None or known["channel_id"] != r.params["channel"]:
            return 404, {"message": "Unknown Message", "code": 10008}
        return 200, self._edit(known, r.body)

    def _r_delete_message(self, r: Request) -> tuple[int, Any]:
        with self._lock:
            known = self.messages.pop(int(r.params["message"]), None)
        if known is None or known["channel_id"] != r.params["channel"]:
            return 404, {"message": "Unknown Message", "code": 10008}
        return 204, None

    def message_now(self, message_id: int | str) -> dict[str, Any] | None:
        """The bot's message ``message_id`` as it stands now (after any edit), or None (never sent, or deleted)."""
        with self._lock:
            found = self.messages.get(int(message_id))
            return dict(found) if found is not None else None

    def _r_channel(self, r: Request) -> tuple[int, Any]:
        channel_id = int(r.params["channel"])
        if channel_id == DM_CHANNEL_ID:
            return 200, {"id": str(channel_id), "type": 1, "recipients": [user(MEMBER_ID, "member")],
                         "last_message_id": None}
        if channel_id in (GENERAL_CHANNEL_ID, NETWORK_CHANNEL_ID):
            return 200, text_channel(channel_id, "general" if channel_id == GENERAL_CHANNEL_ID else "peer-network")
        return 404, {"message": "Unknown Channel", "code": 10003}

    def _r_get_user(self, r: Request) -> tuple[int, Any]:
        return 200, user(int(r.params["user"]), f"user-{r.params['user']}")

    def _r_create_dm(self, r: Request) -> tuple[int, Any]:
        return 200, {"id": str(DM_CHANNEL_ID), "type": 1, "recipients": [user(int(r.body["recipient_id"]), "x")],
                     "last_message_id": None}

    def _edit(self, original: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change the bot's message ``original`` in place (same id), as an edit does; returns it as it is now."""
        with self._lock:
            message = self.messages.setdefault(int(original["id"]), dict(original))
            for key in ("content", "embeds", "components", "flags"):
                if key in changes:
                    message[key] = changes[key] if changes[key] is not None else ("" if key == "content" else [])
            if changes:
                message["edited_timestamp"] = now_iso()
            return dict(message)

    def _r_callback(self, r: Request) -> tuple[int, Any]:
        kind = r.body.get("type")
        data = r.data
        answer: dict[str, Any] = {"interaction": {
            "id": r.params["interaction"], "type": 2,
            "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
            "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL)}}
        with self._lock:
            payload = self.interactions.get(r.params["interaction"]) or {}
            self._answered[r.params["token"]] = kind
        original = payload.get("message")
        if kind in (UPDATE_MESSAGE, DEFERRED_UPDATE) and original:
            # The clicked message itself: changed now (UPDATE_MESSAGE) or by a later edit of @original.
            message = self._edit(original, data if kind == UPDATE_MESSAGE else {})
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": kind, "message": message}
        elif kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, UPDATE_MESSAGE, DEFERRED_UPDATE):
            message = self._message(GENERAL_CHANNEL_ID, data, r.files, webhook_id=str(APP_ID),
                                    application_id=str(APP_ID))
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": kind, "message": message}
        elif kind == MODAL:
            answer["resource"] = {"type": kind}
        return 200, answer

    def _r_followup(self, r: Request) -> tuple[int, Any]:
        return 200, self._message(GENERAL_CHANNEL_ID, r.body, r.files, webhook_id=str(APP_ID),
                                  application_id=str(APP_ID))

    def _r_edit_followup(self, r: Request) -> tuple[int, Any]:
        with self._lock:
            payload = self.interactions.get(r.params["token"]) or {}
            answered = self._answered.get(r.params["token"])
        if r.params["message"] == "@original" and answered in (UPDATE_MESSAGE, DEFERRED_UPDATE) and \
                payload.get("message"):
            return 200, self._edit(payload["message"], r.body)  # the clicked message, edited in place
        return 200, self._message(GENERAL_CHANNEL_ID, r.body, r.files, webhook_id=str(APP_ID),
                                  application_id=str(APP_ID))

    def _r_create_scheduled_event(self, r: Request) -> tuple[int, Any]:
        body = r.body
        missing = [k for k in ("name", "scheduled_start_time", "privacy_level", "entity_type") if k not in body]
        if body.get("entity_type") == 3:  # external: a location and an end are required
            missing += [k for k in ("scheduled_end_time",) if k not in body]
            if not (body.get("entity_metadata") or {}).get("location"):
                missing.append("entity_metadata.location")
        if missing:
            return 400, {"message": "Invalid Form Body", "code": 50035, "errors": {k: {} for k in missing}}
        event = {"id": str(snowflake()), "guild_id": r.params["guild"], "channel_id": None,
                 "creator_id": str(BOT_ID), "creator": BOT_USER, "name": body["name"],
                 "description": body.get("description"), "scheduled_start_time": body["scheduled_start_time"],
                 "scheduled_end_time": body.get("scheduled_end_time"), "privacy_level": body["privacy_level"],
                 "status": 1, "entity_type": body["entity_type"], "entity_id": None,
                 "entity_metadata": body.get("entity_metadata"), "user_count": 0, "image": None,
                 "recurrence_rule": None}
        with self._lock:
            self.scheduled_events.append(event)
        return 200, event

    def _scheduled_event(self, r: Request) -> dict[str, Any] | None:
        """The event a ``/guilds/{guild}/scheduled-events/{event}`` request names (None: Discord's 404)."""
        with self._lock:
            return next((e for e in self.scheduled_events if e["id"] == r.params["event"]
                         and e["guild_id"] == r.params["guild"]), None)

    def _r_get_scheduled_event(self, r: Request) -> tuple[int, Any]:
        event = self._scheduled_event(r)
        if event is None:
            return 404, {"message": "Unknown Guild Scheduled Event", "code": 10070}
        return 200, dict(event)

    def _r_edit_scheduled_event(self, r: Request) -> tuple[int, Any]:
        """A PATCH as Discord takes it: only the fields sent change; an external event keeps a location and an end,
        a start may not be in the past, and a cancelled or completed event cannot change any more."""
        event = self._scheduled_event(r)
        if event is None:
            return 404, {"message": "Unknown Guild Scheduled Event", "code": 10070}
        body = r.body or {}
        if event["status"] in (3, 4):
            return 400, {"message": "Cannot modify a finished event", "code": 180000}
        changed = {k: body[k] for k in ("name", "description", "scheduled_start_time", "scheduled_end_time",
                                        "privacy_level", "entity_type", "entity_metadata", "status") if k in body}
        merged = {**event, **changed}
        start = merged["scheduled_start_time"]
        if "scheduled_start_time" in changed and datetime.fromisoformat(start) <= datetime.now(timezone.utc):
            past = {"_errors": [{"code": "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST"}]}
            return 400, {"message": "Invalid Form Body", "code": 50035, "errors": {"scheduled_start_time": past}}
        if merged["entity_type"] == 3 and not (merged.get("scheduled_end_time")
                                               and (merged.get("entity_metadata") or {}).get("location")):
            return 400, {"message": "Invalid Form Body", "code": 50035, "errors": {"entity_metadata": {}}}
        with self._lock:
            event.update(changed)
            return 200, dict(event)

    def _r_delete_scheduled_event(self, r: Request) -> tuple[int, Any]:
        event = self._scheduled_event(r)
        if event is None:
            return 404, {"message": "Unknown Guild Scheduled Event", "code": 10070}
        with self._lock:
            self.scheduled_events.remove(event)
        return 204, None

    def refuse(self, route: str, status: int = 403, code: int = 50013, message: str = "Missing Permissions",
               times: int = 1) -> None:
        """Answer the next ``times`` requests of ``route`` with ``status`` and Discord's error body."""
        with self._lock:
            self._refusals.setdefault(route, []).extend([(status, {"message": message, "code": code})] * times)

    def _r_get_followup(self, r: Request) -> tuple[int, Any]:
        return 200, self._message(GENERAL_CHANNEL_ID, {}, webhook_id=str(APP_ID), application_id=str(APP_ID))

    def _r_delete_followup(self, r: Request) -> tuple[int, Any]:
        return 204, None

    # -- looking at the traffic --------------------------------------------------------------------------------------

    def calls(self, route: str | None = None, **params: str) -> list[Request]:
        """Recorded requests, optionally of one ``route`` with these path parameters."""
        with self._lock:
            found = list(self.requests)
        return [r for r in found if (route is None or r.route == route)
                and all(r.params.get(k) == str(v) for k, v in params.items())]

    def channel_messages(self, channel_id: int) -> list[Request]:
        return self.calls("create_message", channel=str(channel_id))

    def callbacks(self, interaction_payload: Mapping[str, Any]) -> list[Request]:
        return self.calls("callback", interaction=interaction_payload["id"])

    def followups(self, interaction_payload: Mapping[str, Any]) -> list[Request]:
        return [r for r in self.calls() if r.route in ("followup", "edit_followup")
                and r.params.get("token") == interaction_payload["token"]]

    def response_message(self, request: Request) -> dict[str, Any]:
        """The message object the fake returned for ``request`` (to click its buttons)."""
        assert isinstance(request.response, dict) and "id" in request.response, request
        return request.response

    def describe(self, last: int = 25) -> str:
        """The last requests, for assertion messages."""
        with self._lock:
            found = list(self.requests[-last:])
        return "recorded requests:\n" + "\n".join(f"  {r!r}" for r in found)

    # -- waiting -----------------------------------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, what: str = "a request") -> T:
        return wait_until(predicate, timeout, what, self.describe)

    def wait_callback(self, interaction_payload: Mapping[str, Any], timeout: float = DEFAULT_TIMEOUT) -> Request:
        return self.wait_for(lambda: next(iter(self.callbacks(interaction_payload)), None), timeout,
                             f"the callback of interaction {interaction_payload['id']}")

    def wait_followups(self, interaction_payload: Mapping[str, Any], count: int = 1,
                       timeout: float = DEFAULT_TIMEOUT) -> list[Request]:
        return self.wait_for(lambda: (lambda f: f if len(f) >= count else None)(self.followups(interaction_payload)),
                             timeout, f"{count} follow-up(s) of interaction {interaction_payload['id']}")

    def wait_reply(self, message_payload: Mapping[str, Any], timeout: float = DEFAULT_TIMEOUT) -> Request:
        """The bot's message replying to ``message_payload`` (by ``message_reference``)."""
        def find() -> Request | None:
            for r in self.calls("create_message", channel=message_payload["channel_id"]):
                if str((r.body.get("message_reference") or {}).get("message_id")) == message_payload["id"]:
                    return r
            return None
        return self.wait_for(find, timeout, f"a reply to message {message_payload['id']}")

    def replies_to(self, message_payload: Mapping[str, Any]) -> list[Request]:
        return [r for r in self.calls("create_message")
                if str((r.body.get("message_reference") or {}).get("message_id")) == message_payload["id"]]


def _multipart(content_type: str, raw: bytes) -> tuple[Any, list[Attachment]]:
    """A ``multipart/form-data`` body as discord.py sends it: the JSON of ``payload_json`` and the ``files[N]``
    parts, each given the description its entry of the JSON's ``attachments`` holds (by index)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    payload: Any = None
    files: list[Attachment] = []
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition") or "")
        data = part.get_payload(decode=True) or b""
        if name == "payload_json":
            try:
                payload = json.loads(data)
            except ValueError:
                payload = data.decode("utf-8", "replace")
        elif name.startswith("files["):
            files.append(Attachment(name, str(part.get_filename() or ""), data, part.get_content_type()))
    described = {str(a.get("id")): a for a in (payload or {}).get("attachments") or () if isinstance(a, dict)} \
        if isinstance(payload, dict) else {}
    for f in files:
        entry = described.get(f.field[len("files["):-1])
        if entry is not None:
            f.description = entry.get("description")
    return payload, files


def _option_type(value: Any) -> int:
    """The application command option type Discord gives a value: BOOLEAN 5, INTEGER 4, NUMBER 10, else STRING 3."""
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3
