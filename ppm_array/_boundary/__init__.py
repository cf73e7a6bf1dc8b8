"""The public boundary: array namespaces (the one place that talks to array-api-compat), argument checks, and
the options of every public function."""
