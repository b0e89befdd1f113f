"""Configuration: defaults, file, env vars; unknown or incomplete settings fail naming the setting."""

import pytest

from drexfy.domain.errors import ConfigurationError
from drexfy.entrypoints.config import load_settings


def test_defaults_are_the_embedded_mode():
    settings = load_settings(env={})
    assert settings.get("mode") == "embedded"
    assert (settings.get("ledger.kind"), settings.get("vault.kind"), settings.get("store.kind")) == (
        "evm",
        "local",
        "sqlite",
    )
    assert settings.get("ledger.evm.rpc_url") == "embedded"


def test_file_then_env_then_overrides(tmp_path):
    file = tmp_path / "drexfy.toml"
    file.write_text('[ledger]\nkind = "memory"\n[processes]\nreservation_minutes = 10\n')
    settings = load_settings(file, env={"DREXFY_PROCESSES__RESERVATION_MINUTES": "15"})
    assert settings.get("ledger.kind") == "memory"
    assert settings.get("processes.reservation_minutes") == 15
    assert load_settings(file, env={}, overrides={"ledger.kind": "evm"}).get("ledger.kind") == "evm"


def test_region_overrides_from_env():
    settings = load_settings(env={"DREXFY_PROCESSES__REGION_OVERRIDES": "ch=eu, gb=EU"})
    assert settings.get("processes.region_overrides") == {"CH": "EU", "GB": "EU"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DREXFY_LEDGER__KIND": "solana"}, "ledger.kind"),
        ({"DREXFY_VAULT__KIND": "hsm"}, "vault.kind"),
        ({"DREXFY_STORE__KIND": "postgres"}, "store.kind"),
        ({"DREXFY_LEDGER__KIND": "xrpl"}, "ledger.xrpl.rpc_url"),
        ({"DREXFY_LEDGR__KIND": "evm"}, "ledgr.kind"),
        ({"DREXFY_PROCESSES__RESERVATION_MINUTES": "soon"}, "DREXFY_PROCESSES__RESERVATION_MINUTES"),
        ({"DREXFY_PROCESSES__REGION_OVERRIDES": "CH=ASIA"}, "processes.region_overrides"),
        ({"DREXFY_VAULT__KIND": "kms"}, "vault.kms.key_id"),
        ({"DREXFY_MODE": "production", "DREXFY_LEDGER__KIND": "memory"}, "ledger.kind"),
        ({"DREXFY_MODE": "production"}, "ledger.evm.rpc_url"),
        (
            {"DREXFY_STORE__KIND": "dynamodb", "DREXFY_PROCESSES__DISTRIBUTION_BATCH_SIZE": "200"},
            "distribution_batch_size",
        ),
        ({"DREXFY_WORKER__CONCURRENCY": "0"}, "worker.concurrency"),
        ({"DREXFY_WORKER__BASE_DELAY": "fast"}, "DREXFY_WORKER__BASE_DELAY"),
        ({"DREXFY_WORKER__LEASE_SECONDS": "-5"}, "worker.lease_seconds"),
        ({"DREXFY_WORKER__MAX_DELAY": "0.5"}, "worker.max_delay"),
        ({"DREXFY_WORKER__DONE_RETENTION_DAYS": "1"}, "worker.done_retention_days"),
        ({"DREXFY_OPERATORS__TOKEN_TTL_S": "86400"}, "operators.token_ttl_s"),
        ({"DREXFY_OPERATORS__OIDC__ISSUER": "https://idp.example"}, "operators.oidc.audience"),
        ({"DREXFY_APPROVALS__REQUIRED": "unblock,launch_missiles"}, "approvals.required"),
        ({"DREXFY_APPROVALS__TTL_S": "5"}, "approvals.ttl_s"),
        ({"DREXFY_RATE_LIMITS__TOKEN_PER_S": "0"}, "rate_limits.token_per_s"),
    ],
)
def test_bad_settings_fail_naming_the_setting(env, named):
    with pytest.raises(ConfigurationError, match=named.replace(".", r"\.")):
        load_settings(env=env)


def test_unknown_key_in_the_file_is_named(tmp_path):
    file = tmp_path / "bad.toml"
    file.write_text("[store]\nkidn = 'sqlite'\n")
    with pytest.raises(ConfigurationError, match=r"store\.kidn"):
        load_settings(file, env={})


def test_production_needs_secrets():
    env = {"DREXFY_MODE": "production", "DREXFY_LEDGER__EVM__RPC_URL": "http://node:9933"}
    with pytest.raises(ConfigurationError, match=r"http\.jwt_secret"):
        load_settings(env=env)


def test_ids_are_uuid7_time_ordered_and_unguessable():
    import uuid

    from drexfy.adapters.system import UuidIds, uuid7_hex

    first, second = uuid7_hex(1_700_000_000_000), uuid7_hex(1_700_000_000_001)
    assert first < second  # later ids sort after earlier ones
    parsed = uuid.UUID(hex=first)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert int(first[:12], 16) == 1_700_000_000_000
    ids = {UuidIds().new("inv") for _ in range(1000)}
    assert len(ids) == 1000 and all(i.startswith("inv_") and len(i) == 36 for i in ids)


def test_the_worker_section_configures_the_worker_and_matches_its_defaults(tmp_path):
    import attrs

    from drexfy.entrypoints.runtime import settings as runtime_settings
    from drexfy.entrypoints.runtime.settings import WorkerSettings

    assert load_settings(env={}).get("worker") == attrs.asdict(WorkerSettings())  # one set of defaults
    file = tmp_path / "drexfy.toml"
    file.write_text("[worker]\nconcurrency = 4\nreconcile_every = 0\n")
    env = {"DREXFY_WORKER__BASE_DELAY": "0.5", "DREXFY_DATA_DIR": str(tmp_path)}
    settings = load_settings(file, env=env)
    worker = runtime_settings.build_http_settings(settings).worker  # what `serve` runs with
    assert (worker.concurrency, worker.base_delay, worker.reconcile_every) == (4, 0.5, 0)
    assert runtime_settings.build_worker_settings(settings) == worker  # and `drexfy worker`
    with pytest.raises(ConfigurationError, match=r"worker\.batch_size: expected an integer"):
        load_settings(env={}, overrides={"worker.batch_size": 2.5})


def test_the_log_level_variable_is_not_taken_for_a_setting(tmp_path):
    """DREXFY_LOG_LEVEL (documented for serve and worker) is read by the logging set-up: the
    settings loader must not refuse it as an unknown setting (it did: serve could not start)."""
    settings = load_settings(env={"DREXFY_LOG_LEVEL": "WARNING"}, overrides={"data_dir": str(tmp_path)})
    assert settings.get("mode") == "embedded"


_PRODUCTION = {
    "DREXFY_MODE": "production",
    "DREXFY_LEDGER__EVM__RPC_URL": "http://node:9933",
    "DREXFY_HTTP__JWT_SECRET": "j" * 32,
    "DREXFY_HTTP__KYC_WEBHOOK_SECRET": "k",
    "DREXFY_HTTP__STRIPE_WEBHOOK_SECRET": "whsec_x",
    "DREXFY_HTTP__NOTIFY_URL": "https://frontend.example/hooks/drexfy",
    "DREXFY_PAYMENTS__KIND": "stripe",
    "DREXFY_PAYMENTS__STRIPE__API_KEY": "sk_live_x",
    "DREXFY_PAYMENTS__STRIPE__SUCCESS_URL": "https://app.example/paid",
    "DREXFY_PAYMENTS__STRIPE__CANCEL_URL": "https://app.example/cancelled",
    "DREXFY_KYC__KIND": "sandbox",
}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({}, "kyc.kind"),  # the sandbox KYC verifies nobody
        ({"DREXFY_PAYMENTS__KIND": "sandbox"}, "payments.kind"),
        ({"DREXFY_HTTP__NOTIFY_URL": ""}, "http.notify_url"),
    ],
)
def test_production_refuses_sandbox_providers_and_an_empty_notify_url_naming_the_setting(change, named):
    with pytest.raises(ConfigurationError, match=named.replace(".", r"\.")):
        load_settings(env={**_PRODUCTION, **change})


@pytest.mark.parametrize("missing", ["API_KEY", "SUCCESS_URL", "CANCEL_URL"])
def test_stripe_payments_need_a_key_and_both_return_urls(missing):
    env = {k: v for k, v in _PRODUCTION.items() if k != f"DREXFY_PAYMENTS__STRIPE__{missing}"}
    env.update({"DREXFY_MODE": "embedded", "DREXFY_HTTP__NOTIFY_URL": ""})
    with pytest.raises(ConfigurationError, match=rf"payments\.stripe\.{missing.lower()}"):
        load_settings(env=env)


def test_the_access_sections_configure_operators_oidc_approvals_and_limits(tmp_path):
    from drexfy.entrypoints.runtime.access import build_access_settings

    config = tmp_path / "drexfy.toml"
    config.write_text(
        '[operators.oidc]\nissuer = "https://idp.example"\naudience = "drexfy-api"\n'
        'jwks_url = "https://idp.example/certs"\ngroup_roles = { "/ops/audit" = "auditor" }\n'
        '[approvals]\nrequired = "unblock"\n[rate_limits]\nenabled = false\n'
    )
    access = build_access_settings(load_settings(config, env={}))
    assert access.oidc is not None and dict(access.oidc.group_roles) == {"/ops/audit": "auditor"}
    assert access.approvals_required == frozenset({"unblock"})
    assert access.rate_limits.enabled is False
    config.write_text('[operators.oidc]\ngroup_roles = { "/ops/root" = "superuser" }\n')
    with pytest.raises(ConfigurationError, match=r"operators\.oidc\.group_roles"):
        load_settings(config, env={})


# -- every setting is type-checked when loaded, from the file and the environment alike (issue 15) --

_ILL_TYPED = [
    # (TOML section, key, TOML value, env value or None when the environment cannot spell it)
    ("processes", "reservation_minutes", '"30"', None),  # a string is not a number in TOML
    ("ledger.evm", "chain_id", '"moonbase"', "moonbase"),
    ("http", "port", '"eighty"', "eighty"),
    ("http", "port", "70000", "70000"),
    ("ledger.evm", "confirmations", "-3", "-3"),
    ("ledger", "currency", "978", "978"),  # a number is not a currency code; "978" is not one either
    ("ledger.evm", "receipt_timeout_s", '"60"', "soon"),
    ("worker", "batch_size", "2.5", "2.5"),
]


@pytest.mark.parametrize(("section", "key", "toml_value", "env_value"), _ILL_TYPED)
def test_an_ill_typed_setting_in_the_file_is_refused_naming_it(tmp_path, section, key, toml_value, env_value):
    file = tmp_path / "drexfy.toml"
    file.write_text(f"[{section}]\n{key} = {toml_value}\n")
    with pytest.raises(ConfigurationError) as refused:
        load_settings(file, env={})
    assert refused.value.message.startswith(f"{section}.{key}: ")


@pytest.mark.parametrize(
    ("section", "key", "toml_value", "env_value"), [case for case in _ILL_TYPED if case[3] is not None]
)
def test_an_ill_typed_setting_in_the_environment_is_refused_naming_it_and_its_variable(
    section, key, toml_value, env_value
):
    variable = f"DREXFY_{section.upper().replace('.', '__')}__{key.upper()}"
    with pytest.raises(ConfigurationError) as refused:
        load_settings(env={variable: env_value})
    assert refused.value.message.startswith(f"{section}.{key}: ")
    assert variable in refused.value.message


def test_every_ill_typed_setting_is_named_at_once(tmp_path):
    file = tmp_path / "drexfy.toml"
    file.write_text('[ledger]\ncurrency = 978\n[ledger.evm]\nchain_id = "moonbase"\nconfirmations = -3\n')
    with pytest.raises(ConfigurationError) as refused:
        load_settings(file, env={"DREXFY_HTTP__PORT": "0"})
    for named in ("ledger.currency", "ledger.evm.chain_id", "ledger.evm.confirmations", "http.port"):
        assert named in refused.value.message


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("[store]\nkidn = 'sqlite'\n", "store.kidn: unknown setting"),
        ("[ledger.evm]\nchainid = 1\n", "ledger.evm.chainid: unknown setting"),
        ("colour = 'blue'\n", "colour: unknown setting"),
        ("ledger = 'evm'\n", "ledger: must be a table"),
        ("[processes]\nregion_overrides = {CH = 'ASIA'}\n", "processes.region_overrides"),
        ("[processes]\nregion_overrides = {Switzerland = 'EU'}\n", "processes.region_overrides"),
        ("[xrpl]\nbatch = true\n", "xrpl: unknown setting"),
        ("[ledger.xrpl]\nbatch = 'yes'\n", "ledger.xrpl.batch: expected true or false"),
        ("[http]\njwt_previous_secrets = [1, 2]\n", "http.jwt_previous_secrets"),
    ],
)
def test_unknown_and_misshapen_settings_in_the_file_are_named(tmp_path, toml, named):
    file = tmp_path / "drexfy.toml"
    file.write_text(toml)
    with pytest.raises(ConfigurationError, match=named.replace(".", r"\.")):
        load_settings(file, env={})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DREXFY_LEDGER__EVM__CHAINID": "1"}, "DREXFY_LEDGER__EVM__CHAINID: unknown setting ledger.evm.chainid"),
        ({"DREXFY_LEDGER": "evm"}, "ledger: is a section"),
        ({"DREXFY_LEDGER__XRPL__BATCH": "maybe"}, "ledger.xrpl.batch: expected true or false"),
    ],
)
def test_unknown_and_misshapen_settings_in_the_environment_are_named(env, named):
    with pytest.raises(ConfigurationError, match=named.replace(".", r"\.")):
        load_settings(env=env)


def test_well_typed_values_are_read_as_their_declared_types(tmp_path):
    file = tmp_path / "drexfy.toml"
    file.write_text('[ledger.evm]\nreceipt_timeout_s = 60\n[http]\njwt_previous_secrets = ["a", "b"]\n')
    env = {"DREXFY_HTTP__PORT": "9090", "DREXFY_LEDGER__XRPL__BATCH": "on", "DREXFY_LEDGER__EVM__BLOCK_TIME_S": "12"}
    settings = load_settings(file, env=env)
    assert settings.get("http.port") == 9090 and settings.model.http.port == 9090
    assert settings.get("ledger.xrpl.batch") is True
    evm = settings.model.ledger.evm
    assert type(evm.receipt_timeout_s) is float and type(evm.block_time_s) is float  # a whole number is a duration
    assert settings.model.http.jwt_previous_secrets == ("a", "b")


def test_the_config_command_refuses_an_ill_typed_setting_naming_it(tmp_path, capsys):
    from drexfy.entrypoints.cli import main

    file = tmp_path / "drexfy.toml"
    file.write_text(f'data_dir = "{tmp_path}"\n[processes]\nreservation_minutes = "30"\n')
    assert main(["--config", str(file), "config"]) == 2
    err = capsys.readouterr().err
    assert "processes.reservation_minutes: expected an integer, got a string" in err
    assert "Traceback" not in err
    file.write_text(f'data_dir = "{tmp_path}"\n[processes]\nreservation_minutes = 45\n')
    assert main(["--config", str(file), "config"]) == 0
    assert '"reservation_minutes": 45' in capsys.readouterr().out
