/** `mizzen-proxy iptables` until the bin exists: node run-iptables.ts [clean] [flags]. */
import { runIptablesCommand } from '../../../../src/agent/iptables-cli.ts';

process.exitCode = await runIptablesCommand(process.argv.slice(2));
