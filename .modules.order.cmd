cmd_/work/main/modules.order := {   cat /work/main/build/6.1.0-56-amd64/rxe/drivers/infiniband/sw/rxe/modules.order; :; } > /work/main/modules.order
