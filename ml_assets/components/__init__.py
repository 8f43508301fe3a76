"""ml_assets' components: `TrainingPipeline` (one per defs.yaml) and `ProjectResources` (shared)."""

from ml_assets.components.project_resources import ProjectResources as ProjectResources
from ml_assets.components.training_pipeline import TrainingPipeline as TrainingPipeline
