"""``devstack``: run the shop locally without Docker.

  devstack up                 start everything (Ctrl-C stops it all)
  devstack stop | status      stop / describe a running stack (mappings: state, lag, errors; the relay)
  devstack logs [FN…] [--follow] [--since 10m] [--filter TEXT] [--correlation-id ID]
  devstack trace ORDER_ID|CORRELATION_ID     one order's path through the system, hop by hop
  devstack dlq [redrive [--id ID…]]          failed Kafka batches and S3 events (on-failure queues); replay them
  devstack check              check the shop's invariants over the database (exit 1 on a violation)
  devstack reset              wipe the data folder
  devstack invoke Fn -e ev.json              run one function once (like `sam local invoke`)
  devstack sam-env [-o FILE]                 SAM's --env-vars for the running stack (`up --for-containers`)
  devstack sam-image                         build the local stand-in Lambda Python 3.11 image (no registry)
  devstack generate-event kafka --topic T --value '{...}'   print a Kafka event
  devstack generate-event apigateway --method GET --path /api/products
  devstack openapi -o openapi.json          write the API's OpenAPI 3.1 document
  devstack test               lint, type-check, validate the template, run every test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.settings import ROOT, StackSettings

if TYPE_CHECKING:
    from devstack.template import App


def _settings(args: argparse.Namespace) -> StackSettings:
    data_dir = Path(args.data_dir).resolve() if getattr(args, "data_dir", None) else None
    return StackSettings.from_env(free_ports=getattr(args, "free_ports", False), data_dir=data_dir)


def cmd_up(args: argparse.Namespace) -> int:
    from devstack.supervisor import run_up

    s = _settings(args)
    if args.for_containers and "services_host" not in s.model_fields_set:
        from devstack.sam_env import BRIDGE_INTERFACE, bridge_address

        address = bridge_address()
        if address is None:
            print(f"--for-containers: this machine has no Docker bridge ({BRIDGE_INTERFACE}); start dockerd first, "
                  "or set DEVSTACK_SERVICES_HOST to an address both this machine and its containers reach",
                  file=sys.stderr)
            return 2
        s.services_host = address
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
    from devstack import status
    from devstack.supervisor import running_pid

    s = _settings(args)
    if running_pid(s.state_file) is None:
        print("no stack is running")
        return 1
    state = json.loads(s.state_file.read_text())
    runtime_page = status.fetch(state["metricsUrl"]) if state.get("metricsUrl") else None
    relay_page = status.fetch(state["relayMetricsUrl"]) if state.get("relayMetricsUrl") else None
    mappings = status.mapping_rows(runtime_page) if runtime_page is not None else None
    relay = status.relay_row(relay_page) if relay_page is not None else None
    if args.json:
        print(json.dumps({"stack": state, "mappings": [m.as_json() for m in mappings or []],
                          "relay": relay.as_json() if relay else None}, indent=2))
    else:
        print(status.render(state, mappings, relay))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from devstack import logfiles

    s = _settings(args)
    try:
        since = time.time() - logfiles.parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    query = logfiles.Query(since=since, text=args.filter, correlation_id=args.correlation_id)
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

    def show(entry: logfiles.Entry) -> None:
        if color:
            print(logfiles.render(entry, color=True), flush=True)
        else:  # piped: the JSON line itself, with where it came from
            print(json.dumps({"source": entry.source, **entry.data}, default=str), flush=True)

    paths = logfiles.select_sources(s.log_dir, args.function)
    if not paths:
        print(f"no logs under {s.log_dir} yet", file=sys.stderr)
        return 1 if not args.follow else 0
    for entry in logfiles.read(s.log_dir, list(paths)):
        if query.matches(entry):
            show(entry)
    if args.follow:
        try:
            for entry in logfiles.follow(paths, from_start=False):
                if query.matches(entry):
                    show(entry)
        except KeyboardInterrupt:
            return 0
    return 0


def _subscribers(s: StackSettings) -> dict[str, list[str]]:
    """Topic → the functions mapped to it, from the template."""
    from devstack.template import load_app

    app = load_app(ROOT / "template.yaml", parameters={}, region=s.region)
    out: dict[str, list[str]] = {}
    for m in app.kafka:
        if m.enabled:
            for topic in m.topics:
                out.setdefault(topic, []).append(m.function)
    return out


def cmd_trace(args: argparse.Namespace) -> int:
    from devstack import logfiles, trace

    s = _settings(args)
    result = trace.build(logfiles.read(s.log_dir), args.target, _subscribers(s))
    print(json.dumps(result.as_json(), indent=2) if args.json else result.render())
    return 0 if result.hops else 1


def cmd_dlq(args: argparse.Namespace) -> int:
    import boto3

    from devstack import dlq
    from devstack.supervisor import PASSTHROUGH
    from devstack.template import load_app

    s = _settings(args)
    env = _stack_env(s)
    params = dict(p.split("=", 1) for p in args.parameter or [])
    params.setdefault("MongoDbUri", env.get("MONGODB_URI", s.mongodb))
    params.setdefault("KafkaBootstrapServers", env.get("KAFKA_BOOTSTRAP_SERVERS", s.kafka))
    params.setdefault("AwsEndpointUrl", env.get("AWS_ENDPOINT_URL", s.aws))
    if env.get("MSK_ARN"):
        params.setdefault("MskClusterArn", env["MSK_ARN"])
    app = load_app(Path(args.template).resolve(), parameters=params, region=s.region)
    sqs = boto3.client("sqs", endpoint_url=env.get("AWS_ENDPOINT_URL", s.aws), region_name=s.region,
                       aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "test"),
                       aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "test"))
    failures = [f for queue in dlq.sqs_destinations(app) for f in dlq.list_failures(sqs, queue)]
    if args.action == "list":
        if args.json:
            print(json.dumps([f.describe() for f in failures], indent=2))
        elif not failures:
            print(f"nothing failed in {', '.join(dlq.sqs_destinations(app)) or 'any on-failure destination'}")
        for f in failures if not args.json else []:
            d = f.describe()
            print(f"{d['id']}  {d['failedAt']}  {d['function']}  {', '.join(d['records'])}\n"
                  f"    {d['condition']} after {d['attempts']} attempt(s): {d['error']}")
        return 0
    chosen = [f for f in failures if not args.id or any(f.message_id.startswith(i) for i in args.id)]
    if args.id and not chosen:
        print(f"no message with id {', '.join(args.id)} in the on-failure destinations", file=sys.stderr)
        return 1
    base = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
    base.update({k: v for k, v in env.items() if k != "MSK_ARN"})
    results = asyncio.run(dlq.redrive(app, chosen, sqs, function_env=base,
                                      bootstrap=env.get("KAFKA_BOOTSTRAP_SERVERS", s.kafka), log_dir=s.log_dir))
    for r in results:
        verdict = "redriven" if r.ok else "still failing"
        print(f"{r.failure.message_id}  {r.failure.function}  {verdict} ({r.records} record(s)): {r.detail}")
    if not results:
        print("nothing to redrive")
    return 0 if all(r.ok for r in results) else 1


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


def _local_functions(s: StackSettings, template: Path) -> tuple[App, dict[str, str]]:
    """The template's functions pointed at the running stack (or the defaults), and their base environment."""
    from devstack.supervisor import PASSTHROUGH
    from devstack.template import load_app

    env = _stack_env(s)
    params = {"MongoDbUri": env.get("MONGODB_URI", s.mongodb), "KafkaBootstrapServers":
              env.get("KAFKA_BOOTSTRAP_SERVERS", s.kafka), "AwsEndpointUrl": env.get("AWS_ENDPOINT_URL", s.aws)}
    if env.get("MSK_ARN"):
        params["MskClusterArn"] = env["MSK_ARN"]
    app = load_app(template.resolve(), parameters=params, region=s.region)
    base = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
    base.update({k: v for k, v in env.items() if k != "MSK_ARN"})
    return app, base


def cmd_invoke(args: argparse.Namespace) -> int:
    from devstack.lambda_runtime import InvocationError, LambdaRuntime

    s = _settings(args)
    app, base = _local_functions(s, Path(args.template))
    if args.function not in app.functions:
        print(f"no function {args.function!r}; functions: {', '.join(sorted(app.functions))}", file=sys.stderr)
        return 2
    raw = sys.stdin.read() if args.event == "-" else (Path(args.event).read_text() if args.event else "{}")
    try:
        event = json.loads(raw)
    except ValueError as exc:
        print(f"event is not JSON: {exc}", file=sys.stderr)
        return 2
    # The function's own log lines (its stdout and stderr) on stderr, as `sam local invoke` prints them.
    fn_log = logging.getLogger("fn")
    fn_log.setLevel(logging.INFO)
    fn_log.propagate = False
    echo = logging.StreamHandler(sys.stderr)
    echo.setFormatter(logging.Formatter("%(message)s"))
    fn_log.addHandler(echo)

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


def _authorize(s: StackSettings, token: str, method: str, path: str) -> dict[str, Any] | None:
    """The context API Gateway passes on for ``token``: the template's authorizer run against the stack."""
    from devstack.apigateway import API_ID, AuthorizerGate
    from devstack.lambda_runtime import LambdaRuntime
    from devstack.template import ACCOUNT_ID

    app, base = _local_functions(s, ROOT / "template.yaml")
    auth = next(iter(app.authorizers.values()))
    arn = f"arn:aws:execute-api:{s.region}:{ACCOUNT_ID}:{API_ID}/{app.stage}/{method}{path}"

    async def run() -> dict[str, Any] | None:
        runtime = LambdaRuntime({auth.function: app.functions[auth.function]}, base, hot_reload=False)
        try:
            status, context = await AuthorizerGate(runtime).check(auth, f"Bearer {token}", arn)
        finally:
            await runtime.close()
        return context if status == 0 else None

    return asyncio.run(run())


def cmd_sam_env(args: argparse.Namespace) -> int:
    """SAM CLI's --env-vars file: every function of the template pointed at the running stack."""
    from devstack.sam_env import env_vars, loopback_only
    from devstack.supervisor import running_pid
    from devstack.template import load_app

    s = _settings(args)
    if running_pid(s.state_file) is None:
        print("no stack is running: start one with `python3 dev.py up --for-containers`", file=sys.stderr)
        return 1
    env = _stack_env(s)
    app = load_app(Path(args.template).resolve(), parameters={}, region=s.region)
    overrides = {k.removeprefix("DEVSTACK_ENV_"): v for k, v in os.environ.items() if k.startswith("DEVSTACK_ENV_")}
    text = json.dumps(env_vars(app, env, overrides), indent=2) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}: {len(app.functions)} functions, database {env.get('MONGODB_URI')}, "
              f"broker {env.get('KAFKA_BOOTSTRAP_SERVERS')}, AWS APIs {env.get('AWS_ENDPOINT_URL')}", file=sys.stderr)
    if loopback_only(env):
        print("warning: the stack listens on 127.0.0.1, which is the container itself in `sam local invoke`; "
              "restart it with `python3 dev.py up --for-containers`", file=sys.stderr)
    return 0


def cmd_sam_image(args: argparse.Namespace) -> int:
    """Build the local stand-in for the Lambda Python 3.11 image (only where it cannot be pulled)."""
    from devstack.sam_image import ImageError, build

    try:
        build(force=args.force)
    except ImageError as exc:
        print(f"✗ {exc}", file=sys.stderr)
        return 1
    return 0


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

        headers = pairs(args.header)
        authorizer = None
        if args.token:
            authorizer = _authorize(_settings(args), args.token, args.method.upper(), args.path)
            if authorizer is None:
                print("the authorizer refused the token (API Gateway would answer 401 or 403)", file=sys.stderr)
                return 1
            headers.append(("Authorization", f"Bearer {args.token}"))
        event = build_proxy_event(method=args.method.upper(), path=args.path, resource=args.resource or args.path,
                                  stage="local", headers=headers, query=pairs(args.query),
                                  path_parameters=dict(pairs(args.path_param)),
                                  body=(args.body or "").encode(), source_ip="127.0.0.1", authorizer=authorizer)
    print(json.dumps(event, indent=2))
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    """Write the OpenAPI document (what GET /api/openapi.json serves, plus a server URL) for publishing."""
    from shop.openapi import build_document

    server = args.server or _settings(args).api_url
    doc = build_document(server_url=server)
    text = json.dumps(doc, indent=2) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    Path(args.output).write_text(text)
    operations = sum(len(item) for item in doc["paths"].values())
    print(f"wrote {args.output}: OpenAPI {doc['openapi']}, {operations} operations, server {server}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """The one test command: ruff, mypy, cfn-lint, then pytest (which starts its own stack)."""
    py = sys.executable
    steps: list[tuple[str, list[str]]] = [
        ("ruff", [py, "-m", "ruff", "check", "."]),
        ("mypy", [py, "-m", "mypy", "layers/shared/python", "localstack/devstack", "functions", "realtime_relay",
                  "scripts", "dev.py"]),
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
    up.add_argument("--for-containers", action="store_true",
                    help="the database, broker and AWS emulator listen on (and advertise) the Docker bridge's "
                         "address instead of 127.0.0.1, so `sam local invoke` containers reach them too")
    up.set_defaults(fn=cmd_up)
    for name, fn in (("stop", cmd_stop), ("reset", cmd_reset)):
        p = sub.add_parser(name)
        common(p)
        p.set_defaults(fn=fn)
    st = sub.add_parser("status", help="what runs where; each event-source mapping's state, lag and errors")
    common(st)
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(fn=cmd_status)

    lg = sub.add_parser("logs", help="the functions', gateway's, pollers' and relay's structured logs")
    common(lg)
    lg.add_argument("function", nargs="*", help="function names (or gateway, esm, relay); all when omitted")
    lg.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    lg.add_argument("--since", help="only lines newer than this (30s, 10m, 2h, 1d)")
    lg.add_argument("--filter", help="only lines containing this text (case-insensitive)")
    lg.add_argument("--correlation-id", help="only lines of this correlation id")
    lg.set_defaults(fn=cmd_logs)

    tr = sub.add_parser("trace", help="one order's (or correlation id's) path, hop by hop")
    common(tr)
    tr.add_argument("target", help="an order id, an event id or a correlation id")
    tr.add_argument("--json", action="store_true", help="print JSON")
    tr.set_defaults(fn=cmd_trace)

    dl = sub.add_parser("dlq", help="list the on-failure destinations' records, or redrive them")
    common(dl)
    dl.add_argument("action", nargs="?", choices=("list", "redrive"), default="list")
    dl.add_argument("--id", action="append", help="only this message id (or its prefix); repeatable")
    dl.add_argument("--json", action="store_true", help="print JSON (list)")
    dl.add_argument("-t", "--template", default=str(ROOT / "template.yaml"))
    dl.add_argument("--parameter", action="append", help="Name=Value template parameter; repeatable")
    dl.set_defaults(fn=cmd_dlq)

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

    se = sub.add_parser("sam-env", help="write SAM CLI's --env-vars JSON for the running stack")
    common(se)
    se.add_argument("-o", "--output", default="-", help="file to write, or - for stdout (the default)")
    se.add_argument("-t", "--template", default=str(ROOT / "template.yaml"))
    se.set_defaults(fn=cmd_sam_env)

    si = sub.add_parser("sam-image", help="build the local stand-in for the Lambda Python 3.11 image")
    si.add_argument("--force", action="store_true", help="rebuild even when the image is up to date")
    si.set_defaults(fn=cmd_sam_image)

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
    a.add_argument("--token", help="a bearer token: the running stack's authorizer checks it and its context "
                                   "goes into the event, as API Gateway passes it on")
    common(a)
    gen.set_defaults(fn=cmd_generate_event)

    oa = sub.add_parser("openapi", help="write the OpenAPI 3.1 document of the HTTP API")
    oa.add_argument("-o", "--output", default="openapi.json", help="file to write, or - for stdout")
    oa.add_argument("--server", help="the API's base URL in the document (default: the local gateway)")
    oa.set_defaults(fn=cmd_openapi)

    t = sub.add_parser("test", help="run the checks and the whole test suite",
                       usage="devstack test [--skip-checks] [PYTEST ARGS...]",
                       description="ruff, mypy, cfn-lint and sam build, then pytest with every other argument "
                                   "as it is (e.g. `test -q tests/unit`, `test -x -k relay`, `test -m browser`)")
    t.add_argument("--skip-checks", action="store_true", help="run pytest only")
    t.set_defaults(fn=cmd_test)

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["test"]:
        # Everything but our own flag goes to pytest verbatim: argparse would take pytest's options for ours.
        own = [a for a in argv[1:] if a in ("--skip-checks", "-h", "--help")]
        args = parser.parse_args(["test", *own])
        args.pytest_args = [a for a in argv[1:] if a not in own]
    else:
        args = parser.parse_args(argv)
    return int(args.fn(args))
