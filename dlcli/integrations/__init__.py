"""`dlcli.watch` inside the trainers of other libraries, as their callbacks:

    from dlcli.integrations.lightning import WatchCallback       # lightning.Trainer(callbacks=[WatchCallback()])
    from dlcli.integrations.transformers import WatchCallback    # transformers.Trainer(callbacks=[WatchCallback()])

Each framework is imported only by its own module: importing this package imports neither."""
