"""``devstack``: run the shop locally without Docker.

  devstack up                 start everything (Ctrl-C stops it all)
  devstack stop | status      stop / describe a running stack
  devstack check              check the shop's invariants over the database (exit 1 on a violation)
  devstack reset              wipe the data folder
  devstack invoke Fn -e ev.json              run one function once (like `sam local invoke`)
  devstack generate-event kafka --topic T --value '{...}'   print a Kafka event
  devstack generate-event apigateway --method GET --path /api/products
  devstack test               lint, type-check, validate the template, run every test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.settings import ROOT, StackSettings


def _settings(args: argparse.Namespace) -> StackSettings:
    data_dir = Path(args.data_dir).resolve() if getattr(args, "data_dir", None) else None
    return StackSettings.from_env(free_ports=getattr(args, "free_ports", False), data_dir=data_dir)


def cmd_up(args: argparse.Namespace) -> int:
    from devstack.supervisor import run_up

    s = _settings(args)
    s.seed_demo = not args.no_demo
    s.prewarm = not args.no_prewarm
    s.relay = not args.no_relay
    return run_up(s, verbose=args.verbose)


def cmd_stop(args: argparse.Namespace) -> int:
    from devstack.supervisor import running_pid

    s = _settings(args)
    pid = running_pid(s.state_file)
    if pid is None:
        print("no stack is running")
        return 0
    os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        if running_pid(s.state_file) is None:
            print(f"stopped (pid {pid})")
            return 0
        time.sleep(0.1)
    print(f"pid {pid} did not stop in 20s", file=sys.stderr)
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    from devstack.supervisor import running_pid

    s = _settings(args)
    if running_pid(s.state_file) is None:
        print("no stack is running")
        return 1
    print(s.state_file.read_text())
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    from devstack.supervisor import running_pid

    s = _settings(args)
    if running_pid(s.state_file) is not None:
        print("the stack is running; stop it first (devstack stop)", file=sys.stderr)
        return 1
    if s.data_dir.exists():
        shutil.rmtree(s.data_dir)
        print(f"removed {s.data_dir}")
    else:
        print(f"nothing to remove at {s.data_dir}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from devstack.check import run_check

    return run_check(_settings(args), stuck_after=args.stuck_after, as_json=args.json)


def _stack_env(s: StackSettings) -> dict[str, str]:
    """The running stack's service addresses (if one runs), else the defaults."""
    try:
        state = json.loads(s.state_file.read_text())
        return {str(k): str(v) for k, v in state.get("env", {}).items()} | {"MSK_ARN": state.get("mskClusterArn", "")}
    except (OSError, ValueError):
        return {"KAFKA_BOOTSTRAP_SERVERS": s.kafka, "MONGODB_URI": s.mongodb, "AWS_ENDPOINT_URL": s.aws,
                "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": s.region}


def cmd_invoke(args: argparse.Namespace) -> int:
    from devstack.lambda_runtime import InvocationError, LambdaRuntime
    from devstack.supervisor import PASSTHROUGH
    from devstack.template import load_app

    s = _settings(args)
    env = _stack_env(s)
    params = {"MongoDbUri": env.get("MONGODB_URI", s.mongodb), "KafkaBootstrapServers":
              env.get("KAFKA_BOOTSTRAP_SERVERS", s.kafka)}
    if env.get("MSK_ARN"):
        params["MskClusterArn"] = env["MSK_ARN"]
    app = load_app(Path(args.template).resolve(), parameters=params, region=s.region)
    if args.function not in app.functions:
        print(f"no function {args.function!r}; functions: {', '.join(sorted(app.functions))}", file=sys.stderr)
        return 2
    raw = sys.stdin.read() if args.event == "-" else (Path(args.event).read_text() if args.event else "{}")
    try:
        event = json.loads(raw)
    except ValueError as exc:
        print(f"event is not JSON: {exc}", file=sys.stderr)
        return 2
    base = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
    base.update({k: v for k, v in env.items() if k != "MSK_ARN"})

    async def run() -> int:
        runtime = LambdaRuntime({args.function: app.functions[args.function]}, base, hot_reload=False)
        try:
            inv = await runtime.invoke(args.function, event)
        except InvocationError as exc:
            print(json.dumps({"errorType": exc.error_type, "errorMessage": exc.error_message,
                              "stackTrace": exc.trace}, indent=2))
            return 1
        finally:
            await runtime.close()
        print(json.dumps(inv.result, indent=2))
        print(f"REPORT RequestId: {inv.request_id} Duration: {inv.duration_ms:.1f} ms", file=sys.stderr)
        return 0

    return asyncio.run(run())


def cmd_generate_event(args: argparse.Namespace) -> int:
    if args.source == "kafka":
        from devstack.kafka_events import Record, kafka_event

        kafka_headers = tuple((h.split("=", 1)[0], h.split("=", 1)[-1].encode()) for h in args.header or [])
        record = Record(args.topic, args.partition, args.offset, int(time.time() * 1000), 0,
                        args.key.encode() if args.key is not None else None, args.value.encode(), kafka_headers)
        arn = args.cluster_arn or "arn:aws:kafka:us-east-1:000000000000:cluster/shop-events/local-1"
        event = kafka_event([record], event_source_arn=arn, bootstrap_servers=args.bootstrap_servers)
    else:
        from devstack.apigateway import build_proxy_event

        def pairs(items: list[str] | None) -> list[tuple[str, str]]:
            return [(i.split("=", 1)[0], i.split("=", 1)[-1]) for i in items or []]

        event = build_proxy_event(method=args.method.upper(), path=args.path, resource=args.resource or args.path,
                                  stage="local", headers=pairs(args.header), query=pairs(args.query),
                                  path_parameters=dict(pairs(args.path_param)),
                                  body=(args.body or "").encode(), source_ip="127.0.0.1", authorizer=None)
    print(json.dumps(event, indent=2))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """The one test command: ruff, mypy, cfn-lint, then pytest (which starts its own stack)."""
    py = sys.executable
    steps: list[tuple[str, list[str]]] = [
        ("ruff", [py, "-m", "ruff", "check", "."]),
        ("mypy", [py, "-m", "mypy", "layers/shared/python", "localstack/devstack", "functions", "realtime_relay"]),
        ("cfn-lint", [str(Path(py).parent / "cfn-lint"), "template.yaml", "deploy/relay-stack.yaml"]),
    ]
    sam = ROOT / ".venv-sam" / "bin" / "sam"
    if not os.environ.get("SHOP_SKIP_SAM_BUILD"):
        if not sam.exists():
            print("✗ SAM CLI is not installed: run `python3 dev.py test` (installs it into .venv-sam) "
                  "or set SHOP_SKIP_SAM_BUILD=1", file=sys.stderr)
            return 1
        steps.append(("sam build", [str(sam), "build", "--build-dir", str(ROOT / "var" / "sam-build"),
                                    "--cache-dir", str(ROOT / "var" / "sam-cache"), "--cached"]))
    if not args.skip_checks:
        for name, argv in steps:
            print(f"==> {name}", flush=True)
            env = dict(os.environ, SAM_CLI_TELEMETRY="0")
            if subprocess.call(argv, cwd=ROOT, env=env) != 0:
                print(f"✗ {name} failed", file=sys.stderr)
                return 1
    print("==> pytest", flush=True)
    rc = subprocess.call([py, "-m", "pytest", *args.pytest_args], cwd=ROOT)
    if rc == 5:
        print("✗ pytest collected no tests", file=sys.stderr)
        return 1
    return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="data folder (default var/data, or DEVSTACK_DATA_DIR)")

    up = sub.add_parser("up", help="start the whole local stack")
    common(up)
    up.add_argument("--free-ports", action="store_true", help="pick free ports instead of the standard ones")
    up.add_argument("--no-demo", action="store_true", help="do not seed demo products")
    up.add_argument("--no-prewarm", action="store_true", help="start function workers on first use only")
    up.add_argument("--no-relay", action="store_true", help="do not start the realtime relay")
    up.add_argument("-v", "--verbose", action="store_true", help="show every log line on the console")
    up.set_defaults(fn=cmd_up)
    for name, fn in (("stop", cmd_stop), ("status", cmd_status), ("reset", cmd_reset)):
        p = sub.add_parser(name)
        common(p)
        p.set_defaults(fn=fn)

    chk = sub.add_parser("check", help="check the shop's invariants over the database (exit 1 on a violation)")
    common(chk)
    chk.add_argument("--stuck-after", type=float, metavar="SECONDS",
                     help="an order's saga problems count once it has not changed for this long "
                          "(default: SAGA_STUCK_AFTER_SECONDS, 60)")
    chk.add_argument("--json", action="store_true", help="print the report as JSON")
    chk.set_defaults(fn=cmd_check)

    inv = sub.add_parser("invoke", help="invoke one function once with an event file")
    common(inv)
    inv.add_argument("function")
    inv.add_argument("-e", "--event", help="event JSON file, or - for stdin")
    inv.add_argument("-t", "--template", default=str(ROOT / "template.yaml"))
    inv.set_defaults(fn=cmd_invoke)

    gen = sub.add_parser("generate-event", help="print a sample event")
    gen_sub = gen.add_subparsers(dest="source", required=True)
    k = gen_sub.add_parser("kafka")
    k.add_argument("--topic", required=True)
    k.add_argument("--value", required=True)
    k.add_argument("--key")
    k.add_argument("--partition", type=int, default=0)
    k.add_argument("--offset", type=int, default=0)
    k.add_argument("--header", action="append", help="name=value (repeatable)")
    k.add_argument("--cluster-arn")
    k.add_argument("--bootstrap-servers", default="b-1.shop-events.local:9092")
    a = gen_sub.add_parser("apigateway")
    a.add_argument("--method", default="GET")
    a.add_argument("--path", required=True)
    a.add_argument("--resource")
    a.add_argument("--body")
    a.add_argument("--header", action="append")
    a.add_argument("--query", action="append")
    a.add_argument("--path-param", action="append")
    gen.set_defaults(fn=cmd_generate_event)

    t = sub.add_parser("test", help="run the checks and the whole test suite")
    t.add_argument("--skip-checks", action="store_true")
    t.add_argument("pytest_args", nargs=argparse.REMAINDER)
    t.set_defaults(fn=cmd_test)

    args = parser.parse_args(argv)
    return int(args.fn(args))
