"""What the agent does, once, for every way of asking: the command line and the daemon's jobs
call these functions and add only their own input and output (options and tables; steps, stop
checks and ``job_runs`` rows), so the two cannot drift apart."""
