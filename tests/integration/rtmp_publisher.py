"""A real RTMP publisher for the live-source tests: GStreamer pushing an H.264 MP4 as FLV.

Run with the system interpreter (python3-gi and the GStreamer plugins are Debian packages, not
importable from the project's virtual environment)::

    /usr/bin/python3 tests/integration/rtmp_publisher.py --file clip.mp4 \
        --url rtmp://127.0.0.1:1935/live/key

Pipeline: ``filesrc ! qtdemux ! h264parse ! flvmux streamable=true ! rtmp2sink sync=true``: the
clip as recorded (no re-encoding), in real time, once. Prints ``READY`` once the pipeline plays
(the RTMP handshake is done), ``EOS`` at the end of the clip, then exits 0; exits 1 on an error
(``ERROR ...`` on stderr). SIGTERM/SIGINT stop it; SIGKILL is the camera losing power.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--file", required=True, help="H.264 MP4 clip")
    parser.add_argument("--url", required=True, help="rtmp://HOST:PORT/APP/STREAM")
    args = parser.parse_args(argv)

    Gst.init(None)
    pipeline = Gst.Pipeline.new("publisher")
    elements = []
    for factory, props in (
        ("filesrc", {"location": args.file}),
        ("qtdemux", {}),
        ("h264parse", {}),
        ("flvmux", {"streamable": True}),
        ("rtmp2sink", {"location": args.url, "sync": True}),
    ):
        element = Gst.ElementFactory.make(factory, None)
        if element is None:
            print(f"ERROR GStreamer element {factory!r} not found", file=sys.stderr, flush=True)
            return 1
        for key, value in props.items():
            element.set_property(key, value)
        pipeline.add(element)
        elements.append(element)
    src, demux, parse, mux, sink = elements
    src.link(demux)
    parse.link(mux)
    mux.link(sink)

    def on_pad(_demux: Gst.Element, pad: Gst.Pad) -> None:
        if pad.get_name().startswith("video"):
            pad.link(parse.get_static_pad("sink"))

    demux.connect("pad-added", on_pad)

    loop = GLib.MainLoop()
    status = {"rc": 0, "ready": False}

    def on_message(_bus: Gst.Bus, msg: Gst.Message) -> None:
        if msg.type == Gst.MessageType.EOS:
            print("EOS", flush=True)
            loop.quit()
        elif msg.type == Gst.MessageType.ERROR:
            err, _debug = msg.parse_error()
            print(f"ERROR {err.message}", file=sys.stderr, flush=True)
            status["rc"] = 1
            loop.quit()
        elif (
            msg.type == Gst.MessageType.STATE_CHANGED
            and msg.src is pipeline
            and msg.parse_state_changed()[1] == Gst.State.PLAYING
            and not status["ready"]
        ):
            status["ready"] = True
            print("READY", flush=True)

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    finally:
        pipeline.set_state(Gst.State.NULL)
    return int(status["rc"])


if __name__ == "__main__":
    sys.exit(main())
