"""The offline simulator: scenarios, simulated providers on a virtual clock, the real router,
reference bounds and metrics. ``run_scenario(load_scenario("brownout"), "static", seed=0)``."""

from router.sim.bounds import OraclePolicy, analytic_hindsight_success
from router.sim.library import scenario_paths
from router.sim.loop import VirtualLoop, run_virtual
from router.sim.runner import BOUNDS, PolicyResult, run_scenario
from router.sim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

__all__ = sorted(
    [
        "BOUNDS",
        "OraclePolicy",
        "PolicyResult",
        "Scenario",
        "ScenarioError",
        "VirtualLoop",
        "analytic_hindsight_success",
        "load_scenario",
        "parse_scenario",
        "run_scenario",
        "run_virtual",
        "scenario_paths",
    ]
)
