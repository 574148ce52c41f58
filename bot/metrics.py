"""Prometheus metrics: what the service did, what it waits on, and what the forge costs."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter(
    "promobot_webhooks_total",
    "Webhook requests by endpoint and answer (accepted, unauthorized, too-large, …)",
    ["source", "outcome"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "promobot_deliveries_total",
    "Accepted deliveries by source and what the worker made of them (queued, ignored, "
    "duplicate, malformed)",
    ["source", "outcome"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "promobot_queue_depth", "Jobs waiting in the queue (pending and scheduled)", registry=REGISTRY
)
JOB_SECONDS = Histogram(
    "promobot_job_duration_seconds",
    "Time to run one job, by kind",
    ["kind", "outcome"],
    registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
FORGE_CALLS = Counter(
    "promobot_forge_api_calls_total",
    "Forge API calls by endpoint and HTTP status",
    ["forge", "endpoint", "status"],
    registry=REGISTRY,
)
RATE_LIMIT_REMAINING = Gauge(
    "promobot_forge_rate_limit_remaining",
    "The forge's remaining API rate limit, as last reported: by forge kind, or by GitHub App "
    "installation (github:installation:<id>) when several repos are served",
    ["forge"],
    registry=REGISTRY,
)
BUDGET_DEFERRED = Counter(
    "promobot_budget_deferred_total",
    "Jobs put back to keep the forge's rate limit for more urgent ones, by what they spend on",
    ["spends"],
    registry=REGISTRY,
)
WRITES_PACED = Counter(
    "promobot_writes_paced_total",
    "Forge writes that found no room under GitHub's secondary limits at once, by the kind of "
    "job making them and what became of it (waited in place, or its job put back)",
    ["spends", "outcome"],
    registry=REGISTRY,
)
ACTIONS = Counter(
    "promobot_promotions_total",
    "Promotion PR actions by repo and outcome (opened, superseded, closed, …)",
    ["repo", "outcome"],
    registry=REGISTRY,
)
REPOS = Gauge(
    "promobot_repos",
    "Environment repos this deployment reaches: served, skipped (no .promobot.yaml) or "
    "misconfigured (served, but its .promobot.yaml or its forge cannot be read)",
    ["state"],
    registry=REGISTRY,
)
# delivery (DORA) figures per repo and environment over the last 30 days, recomputed when a
# scrape finds them older than 5 minutes (bot.web.gauges) and whenever the delivery page or
# its API computes them (from the histories the overview reads; see `bot.delivery`)
DELIVERY_PER_DAY = Gauge(
    "promobot_delivery_deployments_per_day",
    "Commits that changed what the environment runs, per day over the last 30 days",
    ["repo", "env"],
    registry=REGISTRY,
)
DELIVERY_LEAD_TIME = Gauge(
    "promobot_delivery_lead_time_seconds",
    "Time from a version's first sight in a source-fed environment to its arrival here, "
    "median over the versions that arrived in the last 30 days",
    ["repo", "env"],
    registry=REGISTRY,
)
DELIVERY_FAILURE_RATE = Gauge(
    "promobot_delivery_change_failure_ratio",
    "Share of the last 30 days' changes (rollbacks aside) that a later rollback undid",
    ["repo", "env"],
    registry=REGISTRY,
)
DELIVERY_RESTORE = Gauge(
    "promobot_delivery_time_to_restore_seconds",
    "Time from the oldest change a rollback undid to the rollback, median over the last 30 days",
    ["repo", "env"],
    registry=REGISTRY,
)
AUDIT_RECORDS = Counter(
    "promobot_audit_records_total",
    "Audit records written, by kind (opened, gate, command, merged, refused, …)",
    ["kind"],
    registry=REGISTRY,
)
AUDIT_FAILED = Counter(
    "promobot_audit_write_failures_total",
    "Audit records a sink could not take (the store, the file, the notifier); the decision went on",
    ["sink"],
    registry=REGISTRY,
)
AUDIT_GATES_UNCHANGED = Counter(
    "promobot_audit_gate_verdicts_unchanged_total",
    "Gate evaluations not recorded because the verdict had not changed since the last record",
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "promobot_notifications_total",
    "Notifications by target name and outcome (sent, failed, unconfigured, duplicate)",
    ["target", "outcome"],
    registry=REGISTRY,
)
