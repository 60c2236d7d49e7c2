"""The command line: ``tgi-infra`` verbs, the pyinfra deploy wrapper and rolling rollouts."""
