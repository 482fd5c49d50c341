"""Layer 5, planning: what to train next, as data. Sampled points, rungs (from the scores of the rung
before), packs and their resources, the disk a sweep needs, and where a running sweep stands (status).
Imports every layer below: a plan is made from results."""
