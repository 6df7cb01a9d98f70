"""Timer schedules agree everywhere: each timer trigger's %Setting% is in local.settings.example.json and in
the Bicep app settings with the same NCRONTAB value, so a timer never vanishes on Azure for want of it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.registry import registered_functions  # get_functions() may run only once per app
from local.timers import next_occurrence

ROOT = Path(__file__).resolve().parents[2]


def _timer_settings() -> dict[str, str]:
    import function_app

    settings = {}
    for function in registered_functions(function_app.app).values():
        trigger = function.get_trigger().get_dict_repr()
        if trigger["type"] == "timerTrigger":
            match = re.fullmatch(r"%(\w+)%", trigger["schedule"])
            assert match, f"{function.get_function_name()}: the schedule should name an app setting"
            settings[function.get_function_name()] = match.group(1)
    return settings


def test_every_timer_schedule_setting_is_in_local_settings_and_bicep_with_one_value(bicep: dict[str, Any]) -> None:
    local = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    azure = {item["name"]: item["value"] for item in bicep["modules/functionapp.bicep"].variables["timerSettings"]}
    names = _timer_settings()
    assert {"relay_unsent_events": "OutboxRelaySchedule"}.items() <= names.items()
    for name in names.values():
        assert local[name] == azure[name], name
        next_occurrence(local[name], datetime.now(UTC))  # a valid six-field NCRONTAB schedule
