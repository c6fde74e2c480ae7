"""``python -m realtime_relay``: run the relay, configured by environment variables only."""

from __future__ import annotations

import asyncio
import logging
import resource

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from realtime_relay.server import run
from realtime_relay.settings import RelaySettings


def main() -> None:
    """Entry point."""
    settings = RelaySettings()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # one descriptor per client: allow as many as the system lets us
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # One JSON object per line, as the functions write them (Powertools' formatter), so `devstack logs`
    # and CloudWatch read the relay the same way.
    handler = logging.StreamHandler()
    handler.setFormatter(LambdaPowertoolsFormatter(service="realtime-relay", utc=True, use_rfc3339=True))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    logging.getLogger("kafka").setLevel(logging.WARNING)  # metadata refreshes are routine
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)  # "task ran for 0.1s" on a busy host
    logging.getLogger("botocore").setLevel(logging.WARNING)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
