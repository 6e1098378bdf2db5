"""The offline simulator: scenarios, simulated providers on a virtual clock, the real router,
reference bounds and metrics.

    from router.sim import load_scenario, run_scenario
    result = run_scenario(load_scenario("brownout"), "static", seed=0, calls=10_000)
    result.success_rate, result.p95_ms, result.metrics()

``run_suite`` runs many scenarios, policies and seeds in parallel processes; ``attune bench``
is its command line. The scenario format is documented in ``router/sim/SCENARIOS.md``."""

from router.sim.bounds import OraclePolicy, analytic_hindsight_success
from router.sim.library import scenario_paths
from router.sim.loop import VirtualLoop, run_virtual
from router.sim.runner import BOUNDS, PolicyResult, run_scenario
from router.sim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from router.sim.suite import SuiteResult, default_policies, run_suite

__all__ = [
    "BOUNDS",
    "OraclePolicy",
    "PolicyResult",
    "Scenario",
    "ScenarioError",
    "SuiteResult",
    "VirtualLoop",
    "analytic_hindsight_success",
    "default_policies",
    "load_scenario",
    "parse_scenario",
    "run_scenario",
    "run_suite",
    "run_virtual",
    "scenario_paths",
]
