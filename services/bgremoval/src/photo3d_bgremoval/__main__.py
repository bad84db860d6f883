"""``python -m photo3d_bgremoval``: run the background-removal worker until SIGINT/SIGTERM."""

import asyncio

from .app import create_app


def main() -> None:
    asyncio.run(create_app().run())


if __name__ == "__main__":
    main()
