"""Starts one moto S3/SQS server for a test process and ties its life to stdin.

Run by `catalog_testkit::Emulator::get()` with the venv's python. It binds
127.0.0.1 on a port the OS picks (so parallel test binaries never collide),
prints that port on stdout as one line, then blocks reading stdin. The Rust
side keeps the pipe open for the whole life of the test process and never
closes it: when that process exits, however it exits, the OS closes the pipe,
this script reads EOF, stops the server and exits. No server outlives its
tests.
"""

import logging
import sys

PINNED = "5.2.5"


def main() -> int:
    try:
        import moto
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        print(
            f"moto_server.py: cannot import moto[server] with {sys.executable}: {error}",
            file=sys.stderr,
            flush=True,
        )
        return 3

    if moto.__version__ != PINNED:
        print(
            f"moto_server.py: warning: moto {moto.__version__} found, the tests are "
            f"written against {PINNED}",
            file=sys.stderr,
            flush=True,
        )

    # One line per request on stderr would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    # Port 0: the OS picks a free port when the server binds, so there is no
    # window in which another process could take it.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(port, flush=True)

    try:
        # Blocks until the parent's end of the pipe closes.
        while sys.stdin.buffer.read(65536):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
