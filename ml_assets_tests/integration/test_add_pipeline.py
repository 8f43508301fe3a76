"""Adding a pipeline is one YAML file: a fifth pipeline in a temporary defs folder, materialized for real."""

import textwrap

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from ml_assets.components import TrainingPipeline

WINE_YAML = """
type: ml_assets.components.TrainingPipeline
attributes:
  name: wine
  description: Wine cultivar from its chemistry (scikit-learn's bundled copy).
  task: classification
  source:
    kind: sklearn
    dataset: wine
  target:
    column: target
  estimator:
    kind: logistic_regression
  quality:
    min_accuracy: 0.9
  baselines:
    - key: seed_script
      name: a RandomForestClassifier(n_estimators=100) script
      estimator: {kind: random_forest, params: {n_estimators: 100}}
      encoding: none
      check: not_worse
  evaluation:
    cv_folds: 5
    cv_repeats: 2
"""


@pytest.mark.slow
def test_a_fifth_pipeline_is_one_yaml_file(tmp_path):
    with create_defs_folder_sandbox() as sandbox:
        (sandbox.defs_folder_path / "wine").mkdir()
        (sandbox.defs_folder_path / "wine" / "defs.yaml").write_text(textwrap.dedent(WINE_YAML))
        (sandbox.defs_folder_path / "project").mkdir()
        (sandbox.defs_folder_path / "project" / "defs.yaml").write_text(
            f"type: ml_assets.components.ProjectResources\nattributes:\n  data_dir: {tmp_path / 'data'}\n"
        )
        with sandbox.build_component_tree() as tree:
            (component,) = tree.get_all_components(of_type=TrainingPipeline)
            assert component.name == "wine"
            defs = tree.build_defs()
            graph = defs.resolve_asset_graph()
            assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
                f"wine/{a}"
                for a in (
                    "raw_data",
                    "features",
                    "model",
                    "evaluation_report",
                    "champion_model",
                    "predictions",
                )
            }
            assert {s.name for s in defs.sensors} == {
                "wine_source_sensor",
                "wine_automation",
                "run_failure_alert",
                "failed_run_cleanup",
            }
            with dg.DagsterInstance.ephemeral() as instance:
                result = defs.resolve_job_def("wine_training").execute_in_process(
                    instance=instance, raise_on_error=False
                )
    assert result.success
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }
    # raw 3, features 4, evaluation 3 (threshold, majority class, declared baseline) and each report's re-computation
    assert len(checks) == 11 and all(checks.values()) and checks["figures_recomputed"]
    report = (tmp_path / "data" / "reports" / "wine" / "evaluation_report.md").read_text()
    assert "178 rows" in report and "| a RandomForestClassifier(n_estimators=100) script |" in report
    assert (tmp_path / "data" / "warehouse" / "wine" / "model.joblib").exists()


def test_owners_tags_and_kinds_come_from_the_yaml(tmp_path):
    """Dagster's `post_processing` block of a defs.yaml sets owners, tags and kinds on a pipeline's assets, all or
    some of them, without a line of Python."""
    post_processing = """
post_processing:
  assets:
    - target: "*"
      attributes:
        owners: ["team:ml-platform"]
        tags: {cost_center: research}
    - target: "key:wine/model"
      attributes:
        kinds: [onnx]
"""
    with create_defs_folder_sandbox() as sandbox:
        (sandbox.defs_folder_path / "wine").mkdir()
        (sandbox.defs_folder_path / "wine" / "defs.yaml").write_text(
            textwrap.dedent(WINE_YAML) + post_processing
        )
        (sandbox.defs_folder_path / "project").mkdir()
        (sandbox.defs_folder_path / "project" / "defs.yaml").write_text(
            f"type: ml_assets.components.ProjectResources\nattributes:\n  data_dir: {tmp_path / 'data'}\n"
        )
        with sandbox.build_component_tree() as tree:
            graph = tree.build_defs().resolve_asset_graph()
            nodes = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    assert len(nodes) == 6 and all(n.owners == ["team:ml-platform"] for n in nodes.values())
    assert all(n.tags.get("cost_center") == "research" for n in nodes.values())
    assert nodes["wine/model"].kinds == {"onnx"} and nodes["wine/raw_data"].kinds == {"pandas", "parquet"}
