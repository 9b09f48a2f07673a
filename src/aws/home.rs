//! The guard's home: the partition, region and account a function name in the policies file
//! means. The Lambda reads it from its own ARN; the CLI from `--account`/`--region` or the AWS
//! configuration.

use std::fmt;

use crate::aws::arn::{FunctionArn, is_account_id, is_partition};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub partition: String,
    pub region: String,
    pub account: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HomeError(String);

impl Home {
    pub fn new(partition: &str, region: &str, account: &str) -> Result<Home, HomeError> {
        if !is_partition(partition) {
            return Err(HomeError(format!(
                "expected a partition such as \"aws\", got {partition:?}"
            )));
        }
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(HomeError(format!(
                "expected a region such as \"eu-west-1\", got {region:?}"
            )));
        }
        if !is_account_id(account) {
            return Err(HomeError(format!(
                "expected a 12-digit account id, got {account:?}"
            )));
        }
        Ok(Home {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
        })
    }

    /// The home of a Lambda function from its ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q]`).
    pub fn from_function_arn(arn: &str) -> Result<Home, HomeError> {
        match FunctionArn::parse(arn) {
            Some(f) => Home::new(f.partition, f.region, f.account),
            None => Err(HomeError(format!(
                "expected a Lambda function ARN, got {arn:?}"
            ))),
        }
    }

    /// The partition a region belongs to, for a home built from a region alone (the Lambda's
    /// `AWS_REGION`, the CLI's `--region`), by the region-name patterns of the SDKs' partitions.
    pub fn partition_of_region(region: &str) -> &'static str {
        const BY_PREFIX: [(&str, &str); 7] = [
            ("cn-", "aws-cn"),
            ("us-gov-", "aws-us-gov"),
            ("us-isob-", "aws-iso-b"),
            ("us-isof-", "aws-iso-f"),
            ("us-iso-", "aws-iso"),
            ("eu-isoe-", "aws-iso-e"),
            ("eusc-", "aws-eusc"),
        ];
        BY_PREFIX
            .iter()
            .find(|(prefix, _)| region.starts_with(prefix))
            .map_or("aws", |(_, partition)| partition)
    }

    /// The unqualified ARN of a function of this account and region.
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{name}",
            self.partition, self.region, self.account
        )
    }

    /// True when an unqualified function ARN is in this account and region.
    pub fn holds(&self, function_arn: &str) -> bool {
        FunctionArn::parse(function_arn).is_some_and(|f| {
            f.partition == self.partition && f.region == self.region && f.account == self.account
        })
    }
}

impl fmt::Display for Home {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.partition, self.region, self.account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_home_comes_from_a_function_arn() {
        let h =
            Home::from_function_arn("arn:aws-cn:lambda:cn-north-1:111122223333:function:g:live")
                .expect("arn");
        assert_eq!(
            (h.partition.as_str(), h.region.as_str(), h.account.as_str()),
            ("aws-cn", "cn-north-1", "111122223333")
        );
        assert!(h.holds("arn:aws-cn:lambda:cn-north-1:111122223333:function:Blog"));
        assert!(!h.holds("arn:aws-cn:lambda:cn-north-2:111122223333:function:Blog"));
        assert!(!h.holds("arn:aws-cn:lambda:cn-north-1:999999999999:function:Blog"));
        assert!(Home::from_function_arn("arn:aws:s3:::b").is_err());
        assert!(Home::new("aws", "eu-west-1", "1234").is_err());
        for (region, partition) in [
            ("us-gov-west-1", "aws-us-gov"),
            ("eu-west-1", "aws"),
            ("cn-northwest-1", "aws-cn"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("us-isof-south-1", "aws-iso-f"),
            ("eusc-de-east-1", "aws-eusc"),
        ] {
            assert_eq!(Home::partition_of_region(region), partition, "{region}");
        }
    }
}
