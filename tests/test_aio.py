"""AsyncServer: fastscp inside an asyncio application, with coroutine callbacks."""
from __future__ import annotations

import asyncio
import threading

from pydicom.data import get_testdata_file

from fastscp import AsyncServer, ServerConfig

from conftest import DCMTK_ENV, STORESCU, final_files

CT_SMALL = get_testdata_file("CT_small.dcm")
MR_SMALL = get_testdata_file("MR_small.dcm")


async def _storescu(port: int, *files: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        STORESCU, "127.0.0.1", str(port), *files, env=DCMTK_ENV,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(proc.wait(), 60)


def test_coroutine_callbacks_run_on_the_loop(tmp_path):
    async def main():
        loop_thread = threading.get_ident()
        seen = []
        stored = asyncio.Queue()

        async def on_store_request(request):
            seen.append(("request", threading.get_ident()))
            await asyncio.sleep(0)
            # refuse the MR object, store the CT one
            return 0xA700 if request.sop_class_uid.endswith(".4") else None

        async def on_stored(obj):
            seen.append(("stored", threading.get_ident()))
            await stored.put(obj)

        def on_association_released(info):     # a plain callback: the association's thread
            seen.append(("released", threading.get_ident()))

        server = AsyncServer(ServerConfig(port=0, host="127.0.0.1", output_directory=str(tmp_path)),
                             on_stored=on_stored, on_store_request=on_store_request,
                             on_association_released=on_association_released)
        task = asyncio.create_task(server.serve_forever())
        rc = await _storescu(server.port, CT_SMALL, MR_SMALL)
        obj = await asyncio.wait_for(stored.get(), 10)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return loop_thread, seen, obj, rc

    loop_thread, seen, obj, rc = asyncio.run(main())
    assert rc != 0                                  # storescu reports the refused object
    assert [p.name for p in final_files(tmp_path)] == [obj.path.rsplit("/", 1)[1]]
    assert obj.path.rsplit("/", 1)[1].startswith("CT.")
    kinds = [k for k, _ in seen]
    assert kinds.count("request") == 2 and kinds.count("stored") == 1 and "released" in kinds
    assert all(t == loop_thread for k, t in seen if k != "released")
    assert all(t != loop_thread for k, t in seen if k == "released")


def test_shutdown_ends_serve_forever(tmp_path):
    async def main():
        server = AsyncServer(ServerConfig(port=0, host="127.0.0.1", output_directory=str(tmp_path)))
        task = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0)
        server.shutdown()
        await asyncio.wait_for(task, 20)
        return task.done() and task.exception() is None

    assert asyncio.run(main())
