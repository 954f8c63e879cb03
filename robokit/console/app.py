"""The operator console's web app (Starlette): one page and one WebSocket.

    GET /?token=T        the page (plain HTML/JS/CSS shipped in robokit/console/static; no CDN)
    WS  /ws?token=T      every 0.1 s the state as JSON text; every 1/15 s each camera frame the page
                         has not seen yet as a binary message (4-byte big-endian header length, the
                         JSON header {actor, camera, seq, received}, the JPEG); the page sends
                         commands as JSON text and gets {"t": "said" | "controlled", ...} or
                         {"t": "error", "reason": ...} back

The token is needed only where the listen policy holds one (robokit.console.security); a WebSocket
whose Origin is not the page's own host is closed before anything is sent.
"""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from robokit.console.commands import CommandRefused
from robokit.console.hub import new_frames
from robokit.console.security import ListenPolicy, allowed_origin

STATIC = Path(__file__).parent / "static"
STATE_EVERY_S = 0.1
FRAME_TICK_S = 1 / 15  # a camera shows at most 15 frames a second, whatever the actor's rate
REFUSED = 4403  # WebSocket close code: no token, a wrong one, or another site's page


def make_app(hub, commands, policy: ListenPolicy) -> Starlette:
    async def page(request):
        if not policy.allows_token(request.query_params.get("token")):
            return PlainTextResponse(
                "This console needs its token: open http://HOST:PORT/?token=... with the token from the file "
                "given to --console-token.",
                status_code=403,
            )
        return FileResponse(STATIC / "index.html")

    async def socket(websocket: WebSocket):
        origin_ok = allowed_origin(websocket.headers.get("origin"), websocket.headers.get("host"))
        if not origin_ok or not policy.allows_token(websocket.query_params.get("token")):
            await websocket.close(code=REFUSED)
            return
        await websocket.accept()
        client = websocket.client
        who = f"{client.host}:{client.port}" if client else "?"
        sender = asyncio.create_task(_send_forever(websocket, hub))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text") if message.get("text") is not None else message.get("bytes", b"")
                await websocket.send_text(json.dumps(await _command(commands, raw, who)))
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()

    return Starlette(
        routes=[
            Route("/", page),
            WebSocketRoute("/ws", socket),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )


async def _command(commands, raw, who: str) -> dict:
    """A command run off the event loop (it waits on the learner's link), its answer or refusal."""
    try:
        return await asyncio.to_thread(commands.handle, raw, who)
    except CommandRefused as err:
        return {"t": "error", "reason": str(err)}


async def _send_forever(websocket: WebSocket, hub) -> None:
    """The state every STATE_EVERY_S and each new frame once, checked every FRAME_TICK_S; a slow page
    misses frames, never queues them (each send is awaited before the next tick)."""
    seen: dict[tuple[int, str], int] = {}
    state_at = 0.0
    loop = asyncio.get_running_loop()
    try:
        while True:
            if loop.time() - state_at >= STATE_EVERY_S:
                state_at = loop.time()
                await websocket.send_text(json.dumps(hub.snapshot()))
            for (actor, camera), frame in new_frames(hub, seen).items():
                seen[(actor, camera)] = frame.seq
                header = {"actor": actor, "camera": camera, "seq": frame.seq, "received": frame.received}
                raw = json.dumps(header).encode()
                await websocket.send_bytes(struct.pack(">I", len(raw)) + raw + frame.jpeg)
            await asyncio.sleep(FRAME_TICK_S)
    except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
        return
