"""Ingest watching: file-system activity under the ingest roots in, stable candidates out.

Public API: watcher.IngestWatcher, scan.scan_root, candidates.Candidate / Rejected,
templates.Templates, stability.StabilityGate, hashing.content_hash.
"""
