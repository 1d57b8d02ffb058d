"""ExecutionPolicyAdvisorV5: microstructure state (+ simulated shortfall) -> execution advice that can
only tighten the configured baseline policy.

``policy`` defines "tighter" per field and the intersection; ``friction`` is the FR-LUX style
FrictionRegimeController; ``advisor`` combines them into one pure function; ``processor`` is the
streams.Processor; ``metrics`` holds the Prometheus counters.
"""

ADVISOR_VERSION = "microexec-advisor/0.1.0"
