"""CLI: ``python -m lab.nvidia_mirror build OUT_DIR`` / ``serve OUT_DIR --port N``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import DEFAULT_KEY_NAME, REAL_BASE_URL, build_mirror
from .packages import VERSIONS
from .serve import make_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.nvidia_mirror",
        description="NVIDIA Container Toolkit apt mirror STAND-IN for the TGI lab",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build (or reuse) the mirror in OUT_DIR")
    build.add_argument("out_dir", type=Path)
    build.add_argument("--gnupg-home", type=Path, default=None)
    build.add_argument("--key-name", default=DEFAULT_KEY_NAME)
    build.add_argument("--base-url", default=REAL_BASE_URL, help="URL written in the .list")
    build.add_argument("--wrong-key", action="store_true", help="sign with a non-published key")
    build.add_argument(
        "--publish",
        metavar="VERSION",
        action="append",
        default=[],
        help="also publish this toolkit version (e.g. 1.18.0-1), as NVIDIA does for a release",
    )
    serve = sub.add_parser("serve", help="serve OUT_DIR over HTTP (OUT_DIR is <base>)")
    serve.add_argument("out_dir", type=Path)
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args(argv)

    if args.command == "build":
        info = build_mirror(
            args.out_dir,
            args.gnupg_home,
            args.key_name,
            wrong_key=args.wrong_key,
            base_url=args.base_url,
            versions=tuple(dict.fromkeys([*VERSIONS, *args.publish])),
        )
        print(f"mirror: {info.root}")
        print(f"versions: {' '.join(info.versions)}")
        print(f"key fingerprint: {info.key_fingerprint}")
        print(f"signed by: {info.signer_fingerprint}")
        print(f"rebuilt: {info.rebuilt}")
        return 0

    server = make_server(args.out_dir, args.bind, args.port)
    host, port = server.server_address[:2]
    print(f"Serving {args.out_dir} at http://{host}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
