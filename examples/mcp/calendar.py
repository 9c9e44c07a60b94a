#!/usr/bin/env python3
"""A tiny MCP server (Python standard library only) that serves a team calendar, over stdio
or, with `--http HOST:PORT`, over the protocol's streamable HTTP transport.

Tools:
  list_events(month)                          read-only: the events of a month (YYYY-MM)
  create_event(title, date, time, minutes, attendees, notes)
                                              creates an event (baton asks before it runs)

Events are kept in the JSON file named by CALENDAR_FILE (default: calendar.json in the
working directory). A missing file starts with a few sample events of December 2026, so the
`workflows/december-meeting.yaml` example has something to read.

Over HTTP it serves POST /mcp (JSON answers; no server-sent stream), hands out an
Mcp-Session-Id at `initialize` and wants it back, and, when MCP_TOKEN is set, wants
`Authorization: Bearer $MCP_TOKEN` on every request. It prints the URL it listens on first.
"""

import json
import os
import re
import sys
import uuid

# This file's name shadows the standard `calendar` module, which `http.server` imports.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

PROTOCOL_VERSION = "2025-06-18"

SAMPLE = [
    {"date": "2026-12-02", "time": "10:00", "minutes": 60, "title": "Storage migration kick-off",
     "attendees": ["ann", "bob"], "notes": "Move the build cache to the new volume."},
    {"date": "2026-12-09", "time": "14:00", "minutes": 30, "title": "Incident review: disk full on ci-3",
     "attendees": ["ann", "chen"], "notes": "Log rotation was off; added a 7-day policy."},
    {"date": "2026-12-16", "time": "11:00", "minutes": 45, "title": "Release 2.4 go/no-go",
     "attendees": ["bob", "chen", "dana"], "notes": "Shipped on the 17th."},
    {"date": "2026-12-21", "time": "15:00", "minutes": 60, "title": "Year-end retrospective",
     "attendees": ["ann", "bob", "chen", "dana"], "notes": "Fewer pages, faster releases."},
]

TOOLS = [
    {
        "name": "list_events",
        "description": "List the calendar's events of one month, oldest first.",
        "inputSchema": {
            "type": "object",
            "properties": {"month": {"type": "string", "description": "YYYY-MM"}},
            "required": ["month"],
        },
        "annotations": {"title": "List events", "readOnlyHint": True},
    },
    {
        "name": "create_event",
        "description": "Create an event in the calendar.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "date": {"type": "string", "description": "YYYY-MM-DD"},
                "time": {"type": "string", "description": "HH:MM, 24-hour"},
                "minutes": {"type": "integer", "minimum": 5, "default": 60},
                "attendees": {"type": "array", "items": {"type": "string"}},
                "notes": {"type": "string"},
            },
            "required": ["title", "date", "time"],
        },
        "annotations": {"title": "Create event", "readOnlyHint": False, "destructiveHint": False},
    },
]


def calendar_path():
    return os.environ.get("CALENDAR_FILE", "calendar.json")


def load():
    try:
        with open(calendar_path(), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return list(SAMPLE)


def save(events):
    path = calendar_path()
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(events, f, indent=2)
    os.replace(tmp, path)


def show(e):
    who = ", ".join(e.get("attendees", [])) or "nobody listed"
    line = f"{e['date']} {e['time']} ({e.get('minutes', 60)} min) {e['title']} — {who}"
    if e.get("notes"):
        line += f". Notes: {e['notes']}"
    return line


def list_events(args):
    month = str(args.get("month", ""))
    if not re.fullmatch(r"\d{4}-\d{2}", month):
        return f"`month` must look like 2026-12, not {month!r}", True
    events = sorted((e for e in load() if e["date"].startswith(month + "-")),
                    key=lambda e: (e["date"], e["time"]))
    if not events:
        return f"No events in {month}.", False
    return "\n".join(show(e) for e in events), False


def create_event(args):
    title, date, time = args.get("title"), str(args.get("date", "")), str(args.get("time", ""))
    if not title or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) or not re.fullmatch(r"\d{2}:\d{2}", time):
        return "create_event needs `title`, `date` (YYYY-MM-DD) and `time` (HH:MM)", True
    event = {"date": date, "time": time, "minutes": int(args.get("minutes", 60)), "title": str(title),
             "attendees": [str(a) for a in args.get("attendees", [])], "notes": str(args.get("notes", ""))}
    events = load()
    events.append(event)
    save(events)
    return "Created: " + show(event), False


def answer(msg):
    method, params = msg.get("method"), msg.get("params") or {}
    if method == "initialize":
        return {"protocolVersion": PROTOCOL_VERSION, "capabilities": {"tools": {}},
                "serverInfo": {"name": "calendar", "version": "1.0"}}
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        handler = {"list_events": list_events, "create_event": create_event}.get(params.get("name"))
        if handler is None:
            raise LookupError(f"no tool {params.get('name')!r}")
        text, failed = handler(params.get("arguments") or {})
        return {"content": [{"type": "text", "text": text}], "isError": failed}
    raise LookupError(f"method {method!r} not supported")


def reply_to(msg):
    """The JSON-RPC answer to one message, or None for a notification."""
    if "id" not in msg:
        return None
    reply = {"jsonrpc": "2.0", "id": msg["id"]}
    try:
        reply["result"] = answer(msg)
    except LookupError as e:
        reply["error"] = {"code": -32601, "message": str(e)}
    return reply


def serve_stdio():
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        reply = reply_to(msg)
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


SESSIONS = set()


class Handler(BaseHTTPRequestHandler):
    """Streamable HTTP: one JSON-RPC message per POST, answered with JSON."""

    def send(self, status, body=None, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def allowed(self):
        token = os.environ.get("MCP_TOKEN")
        if token and self.headers.get("Authorization") != "Bearer " + token:
            self.send(401, {"error": "unauthorized"}, [("WWW-Authenticate", "Bearer")])
            return False
        return True

    def do_POST(self):
        if self.path != "/mcp" or not self.allowed():
            if self.path != "/mcp":
                self.send(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            msg = json.loads(self.rfile.read(length))
        except ValueError:
            self.send(400, {"error": "not JSON"})
            return
        headers = []
        if msg.get("method") == "initialize":
            session = uuid.uuid4().hex
            SESSIONS.add(session)
            headers.append(("Mcp-Session-Id", session))
        elif self.headers.get("Mcp-Session-Id") not in SESSIONS:
            self.send(404, {"error": "unknown session"})
            return
        reply = reply_to(msg)
        if reply is None:
            self.send(202, None, headers)
        else:
            self.send(200, reply, headers)

    def do_GET(self):
        self.send(405, None, [("Allow", "POST, DELETE")])

    def do_DELETE(self):
        if self.allowed():
            SESSIONS.discard(self.headers.get("Mcp-Session-Id"))
            self.send(200, None)

    def log_message(self, fmt, *args):
        sys.stderr.write("calendar: " + (fmt % args) + "\n")


def serve_http(where):
    host, _, port = where.rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    print(f"listening on http://{server.server_address[0]}:{server.server_address[1]}/mcp", flush=True)
    server.serve_forever()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        serve_http(sys.argv[2])
    else:
        serve_stdio()


if __name__ == "__main__":
    main()
