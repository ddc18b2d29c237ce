"""Offline analysis: decode, stems, signals, rhythm -> Analysis (cached on disk)."""
