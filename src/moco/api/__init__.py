"""MOCO's ``moco.cybozu.com/v1beta2`` API as pydantic models: no I/O."""
