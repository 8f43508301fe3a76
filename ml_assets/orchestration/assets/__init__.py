"""One pipeline's assets: raw_data -> features -> model -> evaluation_report -> champion_model ->
predictions (and, monthly, backtest_report plus two external assets: the champion_alias that
champion_model reports and the drift_alarm that predictions reports)."""

from __future__ import annotations

import dagster as dg

from ml_assets.orchestration.assets.backtest import build_backtest_report
from ml_assets.orchestration.assets.champion import build_champion_model, champion_alias_spec
from ml_assets.orchestration.assets.data import build_features, build_raw_data
from ml_assets.orchestration.assets.evaluation import build_evaluation_report
from ml_assets.orchestration.assets.model import build_model
from ml_assets.orchestration.assets.predictions import build_predictions, drift_alarm_spec
from ml_assets.orchestration.plan import PipelinePlan


def build_pipeline_assets(plan: PipelinePlan) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    assets = [
        build_raw_data(plan),
        build_features(plan),
        build_model(plan),
        build_evaluation_report(plan),
        build_champion_model(plan),
        build_predictions(plan),
    ]
    if plan.monthly:
        assets += [build_backtest_report(plan), champion_alias_spec(plan), drift_alarm_spec(plan)]
    return assets
