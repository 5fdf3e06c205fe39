"""Offline generation: API specs -> tools -> tool graph and domains -> EnvSpecs -> tasks.

ingest/  reads API descriptions into ToolDefs
graph/   the tool graph and its domains
envs/    environment synthesis (schema, operations, seed) and the quality gate
tasks/   verifiable tasks from walks over the tool graph
data/    the embedded default API collection
"""
