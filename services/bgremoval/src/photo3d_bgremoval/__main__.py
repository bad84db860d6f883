"""``python -m photo3d_bgremoval``: run the background-removal worker until SIGINT/SIGTERM."""

import asyncio

from .app import create_app
from .remover import prepare_process
from .settings import BgRemovalServiceSettings


def main() -> None:
    settings = BgRemovalServiceSettings()
    prepare_process(settings.removal)
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()
