//! b8g-eval: a lazy evaluator for the Nix language, on rnix. File access and store operations come through traits; it knows nothing of the store.
