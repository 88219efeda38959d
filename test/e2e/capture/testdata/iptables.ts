/** Installs Istio's capture rules in the current network namespace: node iptables.ts [flags]. */
import { runIptablesCommand } from '../../../../src/agent/iptables-cli.ts';

process.exitCode = await runIptablesCommand(process.argv.slice(2));
