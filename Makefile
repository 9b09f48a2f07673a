# The commands a newcomer needs; each is a script under scripts/ or an npm script in cdk/.
.PHONY: demo test bench fuzz deploy destroy synth lambda-build

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

# The guard's code: the arm64 release build, which the app packages (GuardCode.fromAsset of target/lambda/invokeguard-lambda).
lambda-build:
	scripts/bootstrap.sh && PATH="$(CURDIR)/.venv/bin:$$PATH" cargo lambda build --release --arm64 --bin invokeguard-lambda

synth: lambda-build ## the CloudFormation template, offline
	cd cdk && npm ci --no-fund --no-audit && npx cdk synth --no-notices --no-version-reporting -q

deploy: lambda-build ## deploy the stack with your own AWS credentials
	cd cdk && npm ci --no-fund --no-audit && npx cdk deploy --no-notices

destroy: ## remove the stack
	cd cdk && npx cdk destroy --no-notices
