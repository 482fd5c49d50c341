"""Layer 5, planning: what to train next, as data. Sampled points, rungs (from the scores of the rung
before), packs and their resources. Imports every layer below: a plan is made from results."""
