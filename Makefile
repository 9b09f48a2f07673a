# The commands a newcomer needs; each is a script under scripts/ or an npm script in cdk/.
.PHONY: demo test bench fuzz deploy destroy synth

demo: ## invokeguard end to end against a local AWS emulator (no AWS account)
	scripts/demo.sh

test: ## every check and test, as CI runs them
	scripts/test.sh

bench: ## the engine benchmarks (criterion), the storm, the Lambda init/memory figures and peak RSS on hostile trail files
	cargo bench --bench engine
	cargo bench --bench storm
	scripts/bench-lambda.sh
	scripts/bench-org.sh
	scripts/bench-memory.sh

fuzz: ## fuzz each target for 10 minutes
	scripts/fuzz.sh 600

synth: ## the CloudFormation template, offline
	scripts/bootstrap.sh && cd cdk && npm ci --no-fund --no-audit && PATH="$(CURDIR)/.venv/bin:$$PATH" npx cdk synth --no-notices --no-version-reporting -q

deploy: ## deploy the stack with your own AWS credentials
	scripts/bootstrap.sh && cd cdk && npm ci --no-fund --no-audit && PATH="$(CURDIR)/.venv/bin:$$PATH" npx cdk deploy --no-notices

destroy: ## remove the stack
	cd cdk && npx cdk destroy --no-notices
