"""Reads ``template.yaml`` into plain specs: functions, API routes, Kafka mappings, S3 notifications, schedules.

Only what the local runtime needs is modelled. Intrinsics (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``)
are resolved against parameter values and synthesized ARNs, the way CloudFormation would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "000000000000"


class TemplateError(ValueError):
    """template.yaml has something the local runtime cannot run."""


class _Loader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation's short-form tags."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class ApiRoute:
    """One ``Type: Api`` event."""

    function: str
    method: str  # upper case, or ANY
    path: str  # template path, e.g. /api/orders/{id}
    authorizer: str | None  # authorizer name, or None for a public route


@dataclass(frozen=True)
class Authorizer:
    """A Lambda TOKEN authorizer of the API."""

    name: str
    function: str
    header: str = "Authorization"
    ttl_seconds: int = 300


@dataclass(frozen=True)
class Cors:
    allow_origin: str = "*"
    allow_headers: str = ""
    allow_methods: str = ""
    max_age: str | None = None


@dataclass(frozen=True)
class GatewayResponse:
    """A customised API Gateway error response (``GatewayResponses`` of the API)."""

    status: int | None
    templates: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class KafkaMapping:
    """One ``Type: MSK`` / ``Type: SelfManagedKafka`` event (an event-source mapping)."""

    function: str
    name: str
    event_source_arn: str
    topics: tuple[str, ...]
    starting_position: str = "LATEST"
    batch_size: int = 100
    batching_window_seconds: float = 0.5
    consumer_group_id: str = ""
    filters: tuple[dict[str, Any], ...] = ()
    max_retry_attempts: int = -1
    bisect_on_error: bool = False
    on_failure: str | None = None
    enabled: bool = True
    self_managed: bool = False


@dataclass(frozen=True)
class S3Notification:
    """One ``Type: S3`` event: the bucket invokes the function asynchronously for matching objects.

    Retries and the on-failure destination come from the function's ``EventInvokeConfig``
    (Lambda's defaults without one: 2 retries, events kept 6 hours, no destination).
    """

    function: str
    name: str
    bucket: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""
    max_retry_attempts: int = 2
    max_event_age_seconds: int = 21600
    on_failure: str | None = None

    @property
    def configuration_id(self) -> str:
        """The notification's id in the bucket's configuration (``s3.configurationId`` of its events)."""
        return f"{self.function}-{self.name}"


@dataclass(frozen=True)
class ScheduleRule:
    function: str
    name: str
    interval_seconds: float
    enabled: bool = True


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    code_dir: Path
    handler: str
    runtime: str
    timeout: float
    memory: int
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...]
    reserved_concurrency: int | None = None


@dataclass
class App:
    """Everything the local runtime serves."""

    root: Path
    stage: str
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[ApiRoute] = field(default_factory=list)
    authorizers: dict[str, Authorizer] = field(default_factory=dict)
    cors: Cors | None = None
    gateway_responses: dict[str, GatewayResponse] = field(default_factory=dict)
    kafka: list[KafkaMapping] = field(default_factory=list)
    s3: list[S3Notification] = field(default_factory=list)
    #: bucket name → its ``AWS::S3::BucketPolicy`` document (resolved)
    bucket_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: list[ScheduleRule] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open() as fh:
        data = yaml.load(fh, Loader=_Loader)
    if not isinstance(data, dict):
        raise TemplateError(f"{path} is not a mapping")
    return data


class _Resolver:
    def __init__(self, template: dict[str, Any], parameters: dict[str, str], region: str) -> None:
        self.resources: dict[str, Any] = template.get("Resources", {})
        self.parameters = parameters
        self.region = region

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": ACCOUNT_ID, "AWS::StackName": "shop-local",
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
        if name in pseudo:
            return pseudo[name]
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(f"Ref to unknown name {name!r}")
        if resource.get("Type") == "AWS::SQS::Queue":
            queue = resource.get("Properties", {}).get("QueueName", name)
            return f"http://sqs.{self.region}.localhost/{ACCOUNT_ID}/{queue}"
        if resource.get("Type") == "AWS::S3::Bucket":
            return self.bucket_name(name)
        return name

    def bucket_name(self, name: str) -> str:
        """A bucket's ``BucketName``, or a name made from its logical id as CloudFormation would."""
        named = self.resources[name].get("Properties", {}).get("BucketName")
        return str(self.resolve(named)) if named else f"shop-local-{name.lower()}"

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(f"GetAtt of unknown resource {name!r}")
        kind = resource.get("Type", "")
        props = resource.get("Properties", {})
        if attribute != "Arn":
            raise TemplateError(f"GetAtt {name}.{attribute} is not supported locally")
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{props.get('QueueName', name)}"
        if kind == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{self.bucket_name(name)}"
        return f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:{name}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(str(parts[0]), str(parts[1]))
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub_one(m.group(1), extra), text)
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(self.resolve(i)) for i in items)
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub_one(self, name: str, extra: dict[str, Any]) -> str:
        if name in extra:
            return str(extra[name])
        if "." in name and not name.startswith("AWS::"):
            res, att = name.split(".", 1)
            return self.get_att(res, att)
        return self.ref(name)


def _rate_seconds(expression: str) -> float:
    m = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not m:
        raise TemplateError(f"only rate(...) schedules run locally, got {expression!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
    return float(int(m.group(1)) * unit)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_app(path: Path, *, parameters: dict[str, str] | None = None, region: str = "us-east-1") -> App:
    """Parse ``template.yaml`` at ``path`` with parameter overrides."""
    template = load_yaml(path)
    root = path.parent
    params = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    params.update(parameters or {})
    r = _Resolver(template, params, region)
    resources: dict[str, Any] = template.get("Resources", {})
    globals_fn = r.resolve(template.get("Globals", {}).get("Function", {}))
    app = App(root=root, stage=params.get("Stage", "local"), parameters=params, resources=resources)

    layers = {
        name: root / str(res["Properties"]["ContentUri"])
        for name, res in resources.items()
        if res.get("Type") == "AWS::Serverless::LayerVersion"
    }

    for res in resources.values():
        if res.get("Type") == "AWS::S3::BucketPolicy":
            props = res.get("Properties", {})
            app.bucket_policies[str(r.resolve(props["Bucket"]))] = r.resolve(props["PolicyDocument"])

    api_name, api_props = _single_api(resources)
    default_auth = None
    if api_props:
        app.stage = str(r.resolve(api_props.get("StageName", app.stage)))
        auth = api_props.get("Auth", {})
        default_auth = auth.get("DefaultAuthorizer")
        for name, spec in auth.get("Authorizers", {}).items():
            fn_arn = spec.get("FunctionArn", {})
            fn_name = fn_arn.get("Fn::GetAtt", [""])[0] if isinstance(fn_arn, dict) else str(fn_arn).rsplit(":", 1)[-1]
            identity = spec.get("Identity", {})
            app.authorizers[name] = Authorizer(
                name=name,
                function=str(fn_name),
                header=str(identity.get("Header", "Authorization")),
                ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
            )
        for kind, spec in (api_props.get("GatewayResponses") or {}).items():
            headers = (spec.get("ResponseParameters") or {}).get("Headers") or {}
            app.gateway_responses[str(kind)] = GatewayResponse(
                status=int(spec["StatusCode"]) if "StatusCode" in spec else None,
                templates={str(k): str(v) for k, v in (spec.get("ResponseTemplates") or {}).items()},
                headers={str(k): str(v).strip("'") for k, v in headers.items()},
            )
        cors = api_props.get("Cors")
        if isinstance(cors, str):
            app.cors = Cors(allow_origin=cors.strip("'"))
        elif isinstance(cors, dict):
            app.cors = Cors(
                allow_origin=str(cors.get("AllowOrigin", "'*'")).strip("'"),
                allow_headers=str(cors.get("AllowHeaders", "''")).strip("'"),
                allow_methods=str(cors.get("AllowMethods", "''")).strip("'"),
                max_age=str(cors["MaxAge"]).strip("'") if "MaxAge" in cors else None,
            )

    for name, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        own = {k: v for k, v in res.get("Properties", {}).items() if k != "Events"}
        props = _deep_merge(globals_fn, r.resolve(own))
        env = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
        layer_dirs = tuple(layers[str(layer)] for layer in props.get("Layers", []) if str(layer) in layers)
        app.functions[name] = FunctionSpec(
            name=name,
            code_dir=root / str(props.get("CodeUri", ".")),
            handler=str(props["Handler"]),
            runtime=str(props.get("Runtime", "python3.11")),
            timeout=float(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
            environment=env,
            layer_dirs=layer_dirs,
            reserved_concurrency=props.get("ReservedConcurrentExecutions"),
        )
        for event_name, event in res.get("Properties", {}).get("Events", {}).items():
            _add_event(app, r, name, event_name, event, api_name, default_auth,
                       invoke_config=r.resolve(res.get("Properties", {}).get("EventInvokeConfig") or {}))
    return app


def _single_api(resources: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    apis = [(n, r.get("Properties", {})) for n, r in resources.items() if r.get("Type") == "AWS::Serverless::Api"]
    if len(apis) > 1:
        raise TemplateError("the local gateway serves one AWS::Serverless::Api")
    return apis[0] if apis else (None, {})


def _add_event(app: App, r: _Resolver, fn: str, event_name: str, event: dict[str, Any],
               api_name: str | None, default_auth: str | None, *, invoke_config: dict[str, Any]) -> None:
    kind = event.get("Type")
    props = event.get("Properties", {})
    if kind == "Api":
        auth = props.get("Auth", {}).get("Authorizer", default_auth)
        app.routes.append(ApiRoute(
            function=fn,
            method=str(props["Method"]).upper(),
            path=str(props["Path"]),
            authorizer=None if auth in (None, "NONE") else str(auth),
        ))
    elif kind in ("MSK", "SelfManagedKafka"):
        p = r.resolve(props)
        filters = tuple(f for f in (p.get("FilterCriteria") or {}).get("Filters", []))
        on_failure = ((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        arn = str(p.get("Stream", "")) if kind == "MSK" else "self-managed"
        app.kafka.append(KafkaMapping(
            function=fn,
            name=event_name,
            event_source_arn=arn,
            topics=tuple(str(t) for t in p.get("Topics", [])),
            starting_position=str(p.get("StartingPosition", "LATEST")),
            batch_size=int(p.get("BatchSize", 100)),
            batching_window_seconds=float(p.get("MaximumBatchingWindowInSeconds", 0.5)),
            consumer_group_id=str(p.get("ConsumerGroupId") or p.get("SelfManagedKafkaEventSourceConfig", {})
                                  .get("ConsumerGroupId", "") or f"{fn}-{event_name}"),
            filters=filters,
            max_retry_attempts=int(p.get("MaximumRetryAttempts", -1)),
            bisect_on_error=bool(p.get("BisectBatchOnFunctionError", False)),
            on_failure=str(on_failure) if on_failure else None,
            enabled=bool(p.get("Enabled", True)),
            self_managed=kind == "SelfManagedKafka",
        ))
    elif kind == "S3":
        p = r.resolve(props)
        events = p.get("Events", [])
        rules = {str(rule.get("Name", "")).lower(): str(rule.get("Value", ""))
                 for rule in ((p.get("Filter") or {}).get("S3Key") or {}).get("Rules", [])}
        on_failure = ((invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        app.s3.append(S3Notification(
            function=fn,
            name=event_name,
            bucket=str(p["Bucket"]),
            events=tuple(str(e) for e in (events if isinstance(events, list) else [events])),
            prefix=rules.get("prefix", ""),
            suffix=rules.get("suffix", ""),
            max_retry_attempts=int(invoke_config.get("MaximumRetryAttempts", 2)),
            max_event_age_seconds=int(invoke_config.get("MaximumEventAgeInSeconds", 21600)),
            on_failure=str(on_failure) if on_failure else None,
        ))
    elif kind == "Schedule":
        app.schedules.append(ScheduleRule(
            function=fn,
            name=event_name,
            interval_seconds=_rate_seconds(str(props["Schedule"])),
            enabled=bool(props.get("Enabled", True)),
        ))
