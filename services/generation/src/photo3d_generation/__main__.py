"""``python -m photo3d_generation``: run the generation worker until SIGINT/SIGTERM."""

import asyncio

from .app import create_app


def main() -> None:
    asyncio.run(create_app().run())


if __name__ == "__main__":
    main()
