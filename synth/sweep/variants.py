"""The paper's rows: every Synthesizer variant as a config string, with the name the paper uses."""

# The nine rows of the paper's MT/LM table, in its order.
PAPER_VARIANTS = ("vanilla", "fixed_random", "random", "factorized_random", "dense",
                  "factorized_dense", "random+dense", "dense+vanilla", "random+vanilla")

LABELS = {
    "vanilla": "Transformer",
    "fixed_random": "Fixed Random",
    "random": "Random (R)",
    "factorized_random": "Factorized Random (FR)",
    "dense": "Dense (D)",
    "factorized_dense": "Factorized Dense (FD)",
    "random+dense": "R+D",
    "dense+vanilla": "D+V",
    "random+vanilla": "R+V",
    "linformer": "Linformer",
    "lightweight_conv": "Lightweight Conv",
    "dynamic_conv": "Dynamic Conv",
}
