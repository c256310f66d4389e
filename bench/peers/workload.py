"""The peers' side of loom's comparison: N sequential durable steps, each calling a fake model
(a deterministic 200-byte answer) and keeping its answer in the workflow's state, persisted by
the framework as it does by default. Prints one JSON line: the framework, N, wall and CPU
seconds of this process (and of the server, for Restate), and whether the final state is right.

    python workload.py langgraph|dbos|restate --n 1000 --dir DIR
"""

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request


def answer(i: int) -> str:
    head = f"step {i:06}: "
    return head + "x" * (200 - len(head))


def expected(n: int) -> list:
    return [answer(i) for i in range(n)]


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its reaped children, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def langgraph(n: int, d: str) -> dict:
    import operator
    import sqlite3
    from typing import Annotated, TypedDict

    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, StateGraph

    class State(TypedDict):
        i: int
        results: Annotated[list, operator.add]

    def step(s: State) -> dict:
        return {"i": s["i"] + 1, "results": [answer(s["i"])]}

    g = StateGraph(State)
    g.add_node("step", step)
    g.set_entry_point("step")
    g.add_conditional_edges("step", lambda s: "step" if s["i"] < n else END)
    conn = sqlite3.connect(os.path.join(d, "langgraph.db"), check_same_thread=False)
    app = g.compile(checkpointer=SqliteSaver(conn))
    t0, c0 = time.perf_counter(), cpu_self()
    out = app.invoke(
        {"i": 0, "results": []},
        {"configurable": {"thread_id": "bench"}, "recursion_limit": n + 10},
    )
    return {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_self() - c0,
            "ok": out["results"] == expected(n)}


def dbos(n: int, d: str) -> dict:
    from dbos import DBOS

    DBOS(config={"name": "loom-peer", "system_database_url": f"sqlite:///{d}/dbos.sqlite"})

    @DBOS.step()
    def ask(i: int) -> str:
        return answer(i)

    @DBOS.workflow()
    def work(n: int) -> list:
        return [ask(i) for i in range(n)]

    DBOS.launch()
    t0, c0 = time.perf_counter(), cpu_self()
    out = work(n)
    res = {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_self() - c0, "ok": out == expected(n)}
    DBOS.destroy()
    return res


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 30) -> None:
    end = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            if time.time() > end:
                raise
            time.sleep(0.1)


def post(url: str, body) -> bytes:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    return urllib.request.urlopen(req, timeout=600).read()


def restate(n: int, d: str) -> dict:
    """restate-server on loopback, this workflow served by hypercorn in a child process."""
    server = os.environ.get("RESTATE_SERVER", "restate-server")
    ingress, admin, node = free_port(), free_port(), free_port()
    env = dict(os.environ, RESTATE_DISABLE_TELEMETRY="true",
               RESTATE_INGRESS__BIND_ADDRESS=f"127.0.0.1:{ingress}",
               RESTATE_ADMIN__BIND_ADDRESS=f"127.0.0.1:{admin}",
               RESTATE_BIND_ADDRESS=f"127.0.0.1:{node}",
               RESTATE_ADVERTISED_ADDRESS=f"http://127.0.0.1:{node}",
               RESTATE_BASE_DIR=os.path.join(d, "restate-data"))
    srv = subprocess.Popen([server], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    svc = subprocess.Popen([sys.executable, __file__, "restate-service", "--port", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{admin}/health")
        for _ in range(100):
            try:
                post(f"http://127.0.0.1:{admin}/deployments", {"uri": f"http://127.0.0.1:{port}"})
                break
            except Exception:
                time.sleep(0.2)
        c0 = cpu_of(srv.pid) + cpu_of(svc.pid)
        t0 = time.perf_counter()
        out = json.loads(post(f"http://127.0.0.1:{ingress}/agent/bench/run", n))
        wall = time.perf_counter() - t0
        cpu = cpu_of(srv.pid) + cpu_of(svc.pid) - c0
        return {"wall_s": wall, "cpu_s": cpu, "ok": out == expected(n)}
    finally:
        for p in (svc, srv):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def restate_service(port: int) -> None:
    import asyncio

    import hypercorn.asyncio
    import hypercorn.config
    import restate

    agent = restate.Workflow("agent")

    @agent.main()
    async def run(ctx: restate.WorkflowContext, n: int) -> list:
        out = []
        for i in range(n):
            out.append(await ctx.run_typed("llm", answer, i=i))
        return out

    cfg = hypercorn.config.Config()
    cfg.bind = [f"127.0.0.1:{port}"]
    asyncio.run(hypercorn.asyncio.serve(restate.app([agent]), cfg))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("peer", choices=["langgraph", "dbos", "restate", "restate-service"])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--dir", default="/dev/shm/loom-peers")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    if a.peer == "restate-service":
        restate_service(a.port)
        return
    d = os.path.join(a.dir, a.peer)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    res = {"langgraph": langgraph, "dbos": dbos, "restate": restate}[a.peer](a.n, d)
    shutil.rmtree(d, ignore_errors=True)
    print(json.dumps({"peer": a.peer, "n": a.n, **res}))


if __name__ == "__main__":
    main()
