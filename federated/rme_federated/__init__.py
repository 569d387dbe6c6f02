"""PI-DRME on Flower: the ServerApp (FedAvg over what the mode shares, recording every array
it is sent), the ClientApp (local rounds through the ``rme`` package, state in the client's
own directory) and the experiment command that runs them as separate processes."""

#: Run-config keys that are a client's round settings, with their rme names.
ROUND_SETTINGS = {
    "batch": "batch",
    "lr": "lr",
    "tau": "tau",
    "window": "window",
    "individual-steps": "individual_steps",
    "shared-steps": "shared_steps",
    "mu-gradient": "mu_gradient",
    "mu-constraint": "mu_constraint",
}
