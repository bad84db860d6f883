"""Local servers that follow the documented protocols of the external services photo3d talks to.

They listen on real sockets on 127.0.0.1 (aiohttp, in a thread of their own, so sync and async tests and
other processes can all use them) and can be scripted per test, failure modes included:

- ``tencent.FakeTencentAi3d``: Tencent Cloud ai3d 2025-05-13 (Submit/QueryHunyuanTo3DProJob) with TC3
  signature verification, payload limits and downloadable result files.
- ``selfhosted.FakeHunyuanServer``: the self-hosted Hunyuan3D-2 ``api_server.py`` (/send, /status, /generate).
"""
