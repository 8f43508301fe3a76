"""One folder per pipeline, each a TrainingPipeline declared in its defs.yaml; project/ holds the shared resources."""
