"""Reading Omni-RewardBench releases and JSONL into pair drafts, with every problem located.

`sources` finds the data files and the media root (unpacking archives safely), `readers` streams
rows from parquet and JSONL, `rows` turns a raw row into a validated draft and `media` hashes,
checks and catalogues the media files that rows point at. The write side is
`annotations.services.pair_import`.
"""
