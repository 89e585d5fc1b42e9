"""``project.asgi`` with Django's HTTP handler changed as BENCH_ASGI says.

    BENCH_ASGI=null            no Django at all: a fixed answer (201 to a POST, 50 fake messages to
                               a GET), to measure what the HTTP server alone costs per request.

Anything else (or unset) serves ``project.asgi.application`` unchanged.
"""

import json
import os

MODE = os.environ.get("BENCH_ASGI", "")

if MODE == "null":
    _POST = json.dumps({"success": True, "userMessage": {"id": "x"}}).encode()
    _GET = json.dumps(
        {
            "success": True,
            "data": {
                "messages": [
                    {"id": str(i), "content": "x", "metadata": {}, "created_at": 1000 - i}
                    for i in range(50)
                ]
            },
        }
    ).encode()

    async def application(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        body, status = (_POST, 201) if scope["method"] == "POST" else (_GET, 200)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

else:
    from project.asgi import application  # noqa: F401
