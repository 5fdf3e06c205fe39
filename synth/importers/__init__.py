"""Importers: environments and tasks ported from other benchmarks into envhub's formats."""
